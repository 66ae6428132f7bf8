"""The report page: one self-contained HTML file (styles, pictures and the tree inline).

A Content-Security-Policy in the page itself forbids every network load and every script
but the one below (allowed by its hash): even if some run text escaped escaping, it could
neither run nor fetch anything. The script only records, after load, how many pictures the
browser decoded (drawn into a canvas, they paint more than two colours: a header-only or broken
PNG does not) and how many tree nodes it drew, as attributes a headless browser's DOM
dump shows (the browser test reads them); the page needs no script to be read.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from agentnas.report.view import ReportView, Section, esc

CHECK_SCRIPT = (
    "window.addEventListener('load',function(){"
    "var imgs=Array.prototype.slice.call(document.images);"
    "function painted(i){try{var c=document.createElement('canvas');c.width=64;c.height=64;"
    "var x=c.getContext('2d');x.drawImage(i,0,0,64,64);var d=x.getImageData(0,0,64,64).data;"
    "var seen={};var n=0;for(var k=0;k<d.length;k+=4){if(d[k+3]>0){seen[d[k]+','+d[k+1]+','+d[k+2]]=1;}}"
    "for(var s in seen){n++;}return n>2;}catch(e){return false;}}"
    "var ok=imgs.filter(function(i){return i.complete&&i.naturalWidth>0&&painted(i);}).length;"
    "var drawn=0;document.querySelectorAll('svg.tree g.node').forEach(function(n){"
    "var b=n.getBBox();if(b.width>0&&b.height>0){drawn++;}});"
    "var s=document.getElementById('render-check');"
    "s.setAttribute('data-images',String(imgs.length));"
    "s.setAttribute('data-images-decoded',String(ok));"
    "s.setAttribute('data-tree-nodes-drawn',String(drawn));});"
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d232b;margin:0;background:#fafbfc}
main{max-width:1320px;margin:0 auto;padding:18px 28px 60px}
h1{font-size:22px;margin:8px 0 4px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d8dee6;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
nav a{margin-right:14px}
table{border-collapse:collapse;margin:6px 0 10px;background:#fff}
th,td{border:1px solid #dde3ea;padding:3px 8px;text-align:left;vertical-align:top}
thead th{background:#eef2f7}
dl.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));gap:2px 18px;margin:6px 0}
dl.facts div{display:flex;gap:10px;border-bottom:1px solid #e6eaef;padding:2px 0}
dt{font-weight:600;min-width:130px;color:#39424e}dd{margin:0}
table.num td{font-variant-numeric:tabular-nums}
td a{white-space:nowrap}
img.plot{max-width:100%;display:block;margin:8px 0;border:1px solid #e3e7ec;background:#fff}
.tree-box{max-height:900px;overflow:auto;border:1px solid #d8dee6;background:#fff}
.empty{color:#8a5a00;font-weight:600}
.method{font-size:13px;color:#39424e;max-width:1100px}
section.model{border:1px solid #dde3ea;background:#fff;padding:6px 14px 10px;margin:14px 0;border-radius:6px}
section.model h3{margin:6px 0}
.meta{color:#55606e;font-size:13px;margin:2px 0}
.desc{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;color:#39424e;margin:4px 0}
blockquote.lesson{margin:6px 0;padding:4px 10px;border-left:3px solid #1f5fa8;background:#f3f7fc}
pre{background:#f6f8fa;border:1px solid #e3e7ec;padding:8px;overflow:auto;max-height:520px;font-size:12px}
pre.diff .add{color:#116329;background:#e6ffec;display:inline-block;min-width:100%}
pre.diff .del{color:#82071e;background:#ffebe9;display:inline-block;min-width:100%}
pre.diff .hunk{color:#6639ba}pre.diff .meta{color:#57606a;font-weight:600}
summary{cursor:pointer;color:#1f5fa8}
.nodiff{color:#55606e;font-size:13px}
footer{color:#7a8591;font-size:12px;margin-top:30px}
"""


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
            "base-uri 'none'; form-action 'none'")


def render_page(view: ReportView, sections: Sequence[Section]) -> str:
    nav = "".join(f'<a href="#{s.id}">{esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.id}"><h2>{esc(s.title)}</h2>{s.render(view)}</section>' for s in sections)
    title = f"agentnas report: {view.data.task} · {view.data.run_dir.name}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_csp(CHECK_SCRIPT)}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
        f"<h1>{esc(title)}</h1><nav>{nav}</nav>{body}"
        '<footer id="render-check">Written by <code>agentnas report</code> from the run journal alone '
        "(read-only); the same journal gives the same page.</footer>"
        f"</main><script>{CHECK_SCRIPT}</script></body></html>\n")
