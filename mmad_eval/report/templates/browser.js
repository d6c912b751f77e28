/* Question browser: renders a page of questions from the embedded JSON. Model text only via textContent. */
(function () {
  "use strict";
  var PAGE = 20;
  var D = null, THUMBS = null, filtered = [], page = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function S(i) { return i >= 0 ? D.strings[i] : null; }
  function thumb(id, role) {
    if (THUMBS === null) THUMBS = JSON.parse(document.getElementById("qb-thumbs").textContent);
    var fig = el("figure", "thumb");
    var uri = id >= 0 ? THUMBS[id] : null;
    if (typeof uri === "string" && uri.indexOf("data:image/") === 0) {
      var img = el("img"); img.src = uri; img.alt = role; img.loading = "lazy"; fig.appendChild(img);
    } else {
      fig.appendChild(el("div", "noimg", "no image"));
    }
    fig.appendChild(el("figcaption", "", role));
    return fig;
  }
  var SVGNS = "http://www.w3.org/2000/svg";
  function rect(b, colour, dashed) {
    var r = document.createElementNS(SVGNS, "rect");
    r.setAttribute("x", String(+b[0])); r.setAttribute("y", String(+b[1]));
    r.setAttribute("width", String(Math.max(0, b[2] - b[0]))); r.setAttribute("height", String(Math.max(0, b[3] - b[1])));
    r.setAttribute("fill", "none"); r.setAttribute("stroke", colour);
    r.setAttribute("stroke-width", "2"); r.setAttribute("vector-effect", "non-scaling-stroke");
    if (dashed) r.setAttribute("stroke-dasharray", "4 3");
    return r;
  }
  /* Defect Grounding: true boxes (dashed green) and each model's boxes (its colour) over the query image;
     only numbers from the data go into the drawing. */
  function boxOverlay(fig, q) {
    var img = fig.querySelector("img");
    if (!img) return;
    var wrap = el("span", "bxwrap"), svg = document.createElementNS(SVGNS, "svg");
    svg.setAttribute("class", "boxes");
    svg.setAttribute("viewBox", "0 0 " + (+q[6].size[0]) + " " + (+q[6].size[1]));
    svg.setAttribute("preserveAspectRatio", "none");
    q[6].truth.forEach(function (b) { svg.appendChild(rect(b, "#1a9850", true)); });
    q[5].forEach(function (slot, m) {
      if (!slot) return;
      var g = slot[1][0][8];
      if (g && g[0]) g[0].forEach(function (b) { svg.appendChild(rect(b, D.colours[m] || "#d73027", false)); });
    });
    fig.insertBefore(wrap, img); wrap.appendChild(img); wrap.appendChild(svg);
  }
  function firstRecord(q) {
    for (var m = 0; m < q[5].length; m++) if (q[5][m]) return q[5][m][1][0];
    return null;
  }
  function promptImages(pid) {
    var out = [];
    if (pid < 0) return out;
    D.prompts[pid].forEach(function (msg) {
      msg[1].forEach(function (p) { if (Array.isArray(p)) out.push(p); });
    });
    return out;
  }
  function renderPrompt(pid) {
    var box = el("div", "prompt");
    if (pid < 0) { box.textContent = "prompt not stored"; return box; }
    D.prompts[pid].forEach(function (msg) {
      var m = el("div", "msg");
      m.appendChild(el("div", "role", S(msg[0])));
      msg[1].forEach(function (p) {
        if (Array.isArray(p)) m.appendChild(thumb(p[0], S(p[1])));
        else m.appendChild(el("pre", "ptext", S(p)));
      });
      box.appendChild(m);
    });
    return box;
  }
  function matches(q, f) {
    if (f.subtask !== "" && q[3] !== +f.subtask) return false;
    if (f.category !== "" && q[2] !== +f.category) return false;
    if (f.text && q[0].toLowerCase().indexOf(f.text) < 0) return false;
    var slots = f.model === "" ? q[5] : [q[5][+f.model]];
    if (slots.every(function (s) { return !s; })) return false;
    if (f.outcome === "right") return slots.every(function (s) { return !s || s[0] === 1; });
    if (f.outcome === "wrong") return slots.some(function (s) { return s && s[0] === 0; });
    if (f.outcome === "disagree") {
      var seen = {};
      q[5].forEach(function (s) { if (s) seen[s[1][0][3] || "-"] = 1; });
      return Object.keys(seen).length > 1;
    }
    return true;
  }
  function applyFilters() {
    var f = {
      model: document.getElementById("f-model").value,
      subtask: document.getElementById("f-subtask").value,
      category: document.getElementById("f-category").value,
      outcome: document.getElementById("f-outcome").value,
      text: document.getElementById("f-text").value.trim().toLowerCase()
    };
    filtered = [];
    for (var i = 0; i < D.questions.length; i++) if (matches(D.questions[i], f)) filtered.push(i);
    page = 0;
    render();
  }
  function card(q) {
    var c = el("article", "qcard");
    var head = el("div", "qhead");
    head.appendChild(el("span", "mono qid", q[0]));
    head.appendChild(el("span", "tag", D.datasets[q[1]] + " / " + D.categories[q[2]]));
    head.appendChild(el("span", "tag st", q[3] >= 0 ? D.subtasks[q[3]] : "?"));
    c.appendChild(head);
    var body = el("div", "qbody");
    var rec = firstRecord(q);
    var imgs = el("div", "thumbs");
    if (rec) promptImages(rec[1]).forEach(function (p) {
      var fig = thumb(p[0], S(p[1]));
      if (q[6] && S(p[1]) === "query") boxOverlay(fig, q);
      imgs.appendChild(fig);
    });
    body.appendChild(imgs);
    var right = el("div", "qright");
    right.appendChild(el("div", "answer", "Correct answer: " + (S(q[4]) || "?")));
    if (rec) {
      var opts = JSON.parse(S(rec[7]) || "{}"), ol = el("ul", "opts");
      Object.keys(opts).forEach(function (k) {
        var li = el("li", k === rec[2] ? "correct" : "", k + ". " + opts[k]); ol.appendChild(li);
      });
      right.appendChild(ol);
    }
    var t = el("table", "answers"), tb = el("tbody");
    q[5].forEach(function (slot, m) {
      if (!slot) return;
      slot[1].forEach(function (r, k) {
        var g = r[8], right = g ? g[1] >= 0.5 : r[3] === r[2];
        var tr = el("tr", right ? "ok" : "bad");
        tr.appendChild(el("td", "model", k === 0 ? D.models[m] : ""));
        tr.appendChild(el("td", "small", slot[1].length > 1 ? "rot " + r[0] : ""));
        tr.appendChild(el("td", "letter", (g ? "mIoU " + (+g[1]).toFixed(2) : (r[3] || "–")) + (right ? " ✓" : " ✗")));
        tr.appendChild(el("td", "small rule", r[6] >= 0 ? "request failed" : (S(r[4]) || "unparsed")));
        var td = el("td", "reply");
        td.appendChild(el("pre", r[6] >= 0 ? "err" : "", r[6] >= 0 ? S(r[6]) : S(r[5])));
        var det = el("details", "pdet");
        det.appendChild(el("summary", "", "prompt"));
        det.addEventListener("toggle", function () {
          if (det.open && det.childNodes.length === 1) det.appendChild(renderPrompt(r[1]));
        });
        td.appendChild(det);
        tr.appendChild(td);
        tb.appendChild(tr);
      });
    });
    t.appendChild(tb);
    right.appendChild(t);
    body.appendChild(right);
    c.appendChild(body);
    return c;
  }
  function render() {
    var list = document.getElementById("qb-list");
    while (list.firstChild) list.removeChild(list.firstChild);
    var pages = Math.max(1, Math.ceil(filtered.length / PAGE));
    page = Math.min(Math.max(0, page), pages - 1);
    filtered.slice(page * PAGE, page * PAGE + PAGE).forEach(function (i) { list.appendChild(card(D.questions[i])); });
    document.getElementById("qb-status").textContent =
      filtered.length.toLocaleString() + " of " + D.questions.length.toLocaleString() + " questions match";
    document.getElementById("qb-page").textContent = "page " + (page + 1) + " of " + pages;
    document.getElementById("qb-prev").disabled = page === 0;
    document.getElementById("qb-next").disabled = page >= pages - 1;
  }
  function init() {
    D = JSON.parse(document.getElementById("qb-data").textContent);
    var cat = document.getElementById("f-category");
    D.categories.map(function (c, i) { return [c, i]; }).sort().forEach(function (p) {
      var o = el("option", "", p[0]); o.value = String(p[1]); cat.appendChild(o);
    });
    ["f-model", "f-subtask", "f-category", "f-outcome"].forEach(function (id) {
      document.getElementById(id).addEventListener("change", applyFilters);
    });
    document.getElementById("f-text").addEventListener("input", applyFilters);
    document.getElementById("qb-prev").addEventListener("click", function () { page--; render(); });
    document.getElementById("qb-next").addEventListener("click", function () { page++; render(); });
    applyFilters();
    document.body.setAttribute("data-browser", "ready");
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
