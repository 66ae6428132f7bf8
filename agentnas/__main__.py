from agentnas.cli import main

main()
