// SPDX-License-Identifier: LGPL-2.1-or-later
// vmactl show --html: the interactive picture of a space.
//
// vmactl embeds this script and the space (VMAs, bands, layout) in one
// HTML page; nothing is loaded from anywhere. The rows are laid out by the
// rules of clients/vmactl_pic.c (bands, compressed gaps, guard gaps,
// markers, clusters within a height budget), for the range being viewed:
// zooming re-lays out that range, and where few bands are left their VMAs
// get a row each. Zoom: click a row, drag across the bars, type a range,
// or open the page with #range=LO-HI (hex addresses); the browser's back
// button returns to the previous range.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("vmad-data").textContent);
  const PAGE = 4096;
  const W = 1000, TOP = 10, AX_LABEL_R = 116, AX_X = 122, BAR_X = 130;
  const BAR_W = 210, LBL_X = 352, LBL_R = W - 8, FS = 11, FS_SMALL = 9;
  const CHAR_W = 0.62, SUBROW_H = 15, MARKER_H = 14, BUDGET = 1600;
  const GUARD_MAX = 256 * 1024;
  const KINDS = ["file", "named", "stack+guard", "reservation", "anon"];
  const NS = "http://www.w3.org/2000/svg";
  const MK_COLOR = "#7b3294", BAD_COLOR = "#d7301f";

  // VMAs: [gap pages, length pages, attribute, offset pages, rss pages].
  const V = [];
  let at = 0;
  for (let i = 0; i < D.v.length; i += 5) {
    const start = at + D.v[i] * PAGE, end = start + D.v[i + 1] * PAGE;
    const a = D.attrs[D.v[i + 2]];
    V.push({start, end, perms: a[0], file: a[1], name: a[2], flags: a[3],
            devino: a[4], offset: D.v[i + 3] * PAGE, rss: D.v[i + 4]});
    at = end;
  }
  // Bands: [kind, first VMA, number of VMAs, bss].
  const B = [];
  for (let i = 0; i < D.b.length; i += 4) {
    const first = D.b[i + 1], nr = D.b[i + 2];
    const b = {kind: D.b[i], first, nr, bss: !!D.b[i + 3],
               start: V[first].start, end: V[first + nr - 1].end,
               mapped: 0, down: false, up: false};
    for (let k = first; k < first + nr; k++) {
      b.mapped += V[k].end - V[k].start;
      b.down = b.down || V[k].flags.includes("growsdown");
      b.up = b.up || V[k].flags.includes("growsup");
    }
    B.push(b);
  }

  const hex = (n) => n.toString(16);
  const pages = (bytes) => bytes / PAGE;
  const gapH = (bytes) => 10 + 1.25 * Math.log2(pages(bytes) + 1);
  const count = (n) => n.toLocaleString("en-US");
  function size(bytes) {
    const u = "KMGTPE";
    let v = bytes, i = -1;
    while (v >= 1024 && i < 5) { v /= 1024; i++; }
    if (i < 0) return bytes + "B";
    return (Number.isInteger(v) ? v : v.toFixed(1)) + u[i];
  }
  function cells(s) {
    let n = 0;
    for (const ch of s) n += ch.codePointAt(0) < 0x80 ? 1 : 2;
    return n;
  }
  function fit(s, px, fs) {
    const max = Math.floor(px / (CHAR_W * fs));
    if (cells(s) <= max) return s;
    let out = "", n = 0;
    for (const ch of s) {
      const w = ch.codePointAt(0) < 0x80 ? 1 : 2;
      if (n + w > max - 3) break;
      out += ch; n += w;
    }
    return max >= 3 ? out + "..." : "";
  }
  const isNone = (v) => v.perms.startsWith("---");
  function color(perms) {
    const p = perms.slice(0, 3);
    return {"---": "url(#none)", "r--": "#74c476", "rw-": "#6baed6",
            "r-x": "#fd8d3c", "rwx": "#e7298a"}[p] || "#9e9ac8";
  }
  function basename(p) {
    const i = p.lastIndexOf("/");
    return i >= 0 && i + 1 < p.length ? p.slice(i + 1) : p;
  }
  // The /proc/PID/maps line of a VMA, as the daemon prints it.
  function mapsLine(v) {
    const pad = (n) => hex(n).padStart(8, "0");
    let s = pad(v.start) + "-" + pad(v.end) + " " + v.perms + " " +
            pad(v.offset) + " " + v.devino;
    const label = v.name || v.file || "";
    if (label) s += " ".repeat(Math.max(1, 73 - s.length)) + label;
    return s;
  }
  const QUIET = ["private", "shared", "anonymous", "account", "anon_vma",
                 "stack", "heap"];
  function flagWords(first, nr) {
    const out = [];
    for (let k = first; k < first + nr; k++)
      for (const f of V[k].flags)
        if (!QUIET.includes(f) && !out.includes(f)) out.push(f);
    return out.join(",");
  }
  function permList(first, nr) {
    const out = [];
    for (let k = first; k < first + nr;) {
      let run = 1;
      while (nr > 6 && k + run < first + nr &&
             V[k + run].perms === V[k].perms) run++;
      out.push(run > 1 ? run + "x" + V[k].perms : V[k].perms);
      k += run;
    }
    return out.join(" ");
  }
  // A unit is a band, or one VMA of a band when the view is zoomed in.
  function unitLabel(u) {
    const v = V[u.first], f = flagWords(u.first, u.nr);
    let rss = 0, none = 0;
    for (let k = u.first; k < u.first + u.nr; k++) {
      rss += V[k].rss;
      if (isNone(V[k])) none += V[k].end - V[k].start;
    }
    const tail = (rss ? ", rss " + size(rss * PAGE) : "") +
                 (f ? "  " + f : "");
    const sz = size(u.end - u.start), perms = permList(u.first, u.nr);
    const name = v.file ? basename(v.file) : v.name;
    switch (u.kind) {
      case 0: return [name, "  " + sz + "  " + perms +
                      (u.bss ? " (+bss)" : "") + tail];
      case 1: return [name, "  " + sz + "  " + perms + tail];
      case 2: return ["thread stack?", "  " + size(V[u.first + 1].end -
                      V[u.first + 1].start) + " " + V[u.first + 1].perms +
                      " + " + size(v.end - v.start) + " guard" + tail];
      case 3: return ["reservation", "  " + size(none) + " ---p, " +
                      size(u.mapped - none) + " committed  (" + u.nr +
                      " VMAs)" + tail];
      case 5: return [name || "anon", "  " + sz + "  " + perms +
                      (v.file ? " @" + hex(v.offset) : "") + tail];
      default: return ["anon", "  " + sz + "  " + perms + tail];
    }
  }

  // --------------------------------------------------------------------
  // Layout of [lo, hi): rows, top down, as pic_layout() does.

  function unitsOf(lo, hi) {
    const bs = [];
    for (let i = 0; i < B.length; i++)
      if (B[i].end > lo && B[i].start < hi) bs.push(i);
    // A band cut by the view's edge, or too long to expand when few are
    // in view, gets one unit per VMA.
    const units = [];
    for (const i of bs) {
      const b = B[i];
      const clipped = b.start < lo || b.end > hi;
      if (!clipped && !(bs.length < 12 && b.nr > 64)) {
        units.push({kind: b.kind, first: b.first, nr: b.nr, bss: b.bss,
                    start: b.start, end: b.end, mapped: b.mapped,
                    down: b.down, up: b.up, band: i});
        continue;
      }
      for (let k = b.first; k < b.first + b.nr; k++) {
        const v = V[k];
        if (v.end <= lo || v.start >= hi) continue;
        const s = Math.max(v.start, lo), e = Math.min(v.end, hi);
        units.push({kind: 5, first: k, nr: 1, start: s, end: e,
                    mapped: e - s, down: v.flags.includes("growsdown"),
                    up: v.flags.includes("growsup"), band: i});
      }
    }
    return units;
  }

  function unitH(u) {
    let h = Math.max(18, 13 + 0.5 * Math.log2(pages(u.end - u.start) + 1));
    if (u.nr > 1 && h < 4 + 3 * u.nr) h = Math.min(4 + 3 * u.nr, 40);
    return h;
  }

  function buildRows(units, lo, hi, cut, expand) {
    const rows = [];
    let height = 0, done = 0;
    const push = (r) => { r.y = height; rows.push(r); height += r.h; };
    const take = (a, b, open) => {
      let m = 0;
      D.mk.forEach((mk, i) => {
        const bit = 1 << i;
        if (done & bit) return;
        if (open ? mk[1] > a && mk[1] < b : mk[1] >= a && mk[1] <= b)
          m |= bit;
      });
      done |= m;
      return m;
    };
    const markerRow = (pending, addr) => {
      let m = 0;
      D.mk.forEach((mk, i) => {
        if ((pending & (1 << i)) && mk[1] === addr) m |= 1 << i;
      });
      if (m) push({kind: "marker", start: addr, end: addr, markers: m,
                   h: MARKER_H});
    };
    function gapRows(a, b, below, above) {
      const pending = take(a, b, false), guard = D.guard;
      let gs = 0, ge = 0, hasGuard = false, bad = false;
      if (guard && above && above.down) {
        hasGuard = true; bad = !!below && b - a < guard;
        gs = b - a > guard ? b - guard : a; ge = b;
      } else if (guard && below && below.up) {
        hasGuard = true; bad = !!above && b - a < guard;
        gs = a; ge = b - a > guard ? a + guard : b;
      }
      // The guard gap is measured from the VMA, not from the view's edge.
      if (hasGuard && ((above && above.down && b !== above.start) ||
                       (!(above && above.down) && a !== below.end)))
        hasGuard = false;
      const pts = [a];
      if (hasGuard) pts.push(gs, ge);
      D.mk.forEach((mk, i) => { if (pending & (1 << i)) pts.push(mk[1]); });
      pts.sort((x, y) => y - x);
      markerRow(pending, b);
      if (bad && a === b)
        push({kind: "guardbad", start: a, end: b, h: 16});
      let cur = b;
      for (const p of pts) {
        if (p >= cur) continue;
        const r = {kind: "gap", start: p, end: cur};
        if (hasGuard && p >= gs && cur <= ge) r.kind = bad ? "guardbad"
                                                         : "guard";
        r.h = gapH(cur - p);
        if (r.kind !== "gap" && r.h < 16) r.h = 16;
        push(r);
        markerRow(pending, p);
        cur = p;
      }
    }
    const n = units.length;
    if (!n) {
      gapRows(lo, hi, null, null);
      return {rows, height};
    }
    gapRows(units[n - 1].end, hi, units[n - 1], null);
    for (let k = n - 1; k >= 0;) {
      let j = k;
      while (j > 0 && !cut[j - 1]) j--;
      const r = {start: units[j].start, end: units[k].end, u0: j,
                 nu: k - j + 1};
      r.markers = take(r.start, r.end, true);
      if (r.nu === 1) {
        r.kind = "band";
        r.expanded = expand && units[j].nr > 1;
        r.h = r.expanded ? SUBROW_H * units[j].nr : unitH(units[j]);
      } else {
        r.kind = "cluster";
        r.h = 26 + 0.5 * Math.log2(pages(r.end - r.start) + 1);
      }
      push(r);
      gapRows(j ? units[j - 1].end : lo, units[j].start,
              j ? units[j - 1] : null, units[j]);
      k = j - 1;
    }
    return {rows, height};
  }

  function layout(lo, hi) {
    const units = unitsOf(lo, hi), n = units.length, cuts = [];
    for (let i = 0; i + 1 < n; i++) {
      const a = units[i], b = units[i + 1], sz = b.start - a.end;
      let forced = a.up || b.down;
      for (const mk of D.mk)
        if (mk[1] >= a.end && mk[1] <= b.start) forced = true;
      cuts.push({i, forced, size: sz,
                 cls: sz ? Math.floor(Math.log2(sz)) : -1,
                 big: Math.max(a.end - a.start, b.end - b.start)});
    }
    cuts.sort((x, y) => (y.forced - x.forced) || (y.cls - x.cls) ||
                        (y.size - x.size) || (y.big - x.big) || (x.i - y.i));
    let forced = 0;
    while (forced < cuts.length && cuts[forced].forced) forced++;
    const bound = [];
    for (let i = forced; i <= cuts.length; i++)
      if (i === forced || i === cuts.length || cuts[i].cls !== cuts[i - 1].cls)
        bound.push(i);
    const mask = (m) => {
      const c = new Array(Math.max(0, n - 1)).fill(false);
      for (let i = 0; i < m; i++) c[cuts[i].i] = true;
      return c;
    };
    let a = 0, b = bound.length - 1;
    while (a < b) {
      const mid = a + Math.ceil((b - a) / 2);
      if (buildRows(units, lo, hi, mask(bound[mid]), false).height <= BUDGET)
        a = mid;
      else
        b = mid - 1;
    }
    const m = bound[a], c = mask(m);
    if (m === cuts.length) {
      const l = buildRows(units, lo, hi, c, true);
      if (l.height <= BUDGET) return {units, ...l};
    }
    return {units, ...buildRows(units, lo, hi, c, false)};
  }

  // --------------------------------------------------------------------
  // Drawing

  const svg = document.getElementById("pic");
  const tip = document.getElementById("tip");
  let view = {lo: 0, hi: D.top, rows: [], units: [], height: 0};

  function el(name, attrs, parent, text) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, right, fs, s, attrs, head) {
    const t = el("text", Object.assign({x, y, "font-size": fs}, attrs || {}),
                 parent);
    let body = fit((head || "") + s, right - x, fs);
    if (head && body.startsWith(head)) {
      el("tspan", {"font-weight": "bold"}, t, head);
      body = body.slice(head.length);
    }
    t.appendChild(document.createTextNode(body));
    return t;
  }
  function yIn(r, a) {
    const f = r.end > r.start ? (r.end - a) / (r.end - r.start) : 0.5;
    return TOP + r.y + f * r.h;
  }
  function markerNames(m) {
    return D.mk.filter((_, i) => m & (1 << i)).map((mk) => mk[0]);
  }
  function markerLines(g, r) {
    const names = [];
    D.mk.forEach((mk, i) => {
      if (!(r.markers & (1 << i))) return;
      const y = yIn(r, mk[1]);
      el("line", {x1: AX_X - 4, y1: y, x2: BAR_X + BAR_W + 4, y2: y,
                  stroke: MK_COLOR, "stroke-width": 2,
                  "stroke-dasharray": "5,2"}, g);
      names.push("  [" + mk[0] + " inside]");
    });
    return names.join("");
  }

  function drawBand(g, r) {
    const u = view.units[r.u0], y = TOP + r.y;
    let wsum = 0, shared = false;
    for (let k = u.first; k < u.first + u.nr; k++) {
      wsum += 1 + Math.log2(pages(V[k].end - V[k].start) + 1);
      shared = shared || V[k].perms[3] === "s";
    }
    let yy = y;
    for (let k = u.first + u.nr - 1; k >= u.first; k--) {
      const v = V[k];
      const sh = r.expanded ? SUBROW_H :
        (r.h - 2 * u.nr) * (1 + Math.log2(pages(v.end - v.start) + 1)) /
          wsum + 2;
      el("rect", {x: BAR_X, y: yy, width: BAR_W, height: sh,
                  fill: color(v.perms), "data-vma": k}, g);
      if (r.expanded && k < u.first + u.nr - 1)
        el("line", {x1: BAR_X, y1: yy, x2: BAR_X + BAR_W, y2: yy,
                    stroke: "#ffffff"}, g);
      if (r.expanded)
        text(g, LBL_X, yy + sh / 2 + 0.35 * FS, LBL_X + 24 * CHAR_W * FS, FS,
             v.perms + " " + size(v.end - v.start).padStart(6) +
             (v.file ? " @" + hex(v.offset) : ""));
      yy += sh;
    }
    el("rect", {x: BAR_X, y, width: BAR_W, height: r.h, fill: "none",
                stroke: "#222", "stroke-dasharray": shared ? "6,3" : "none"},
       g);
    const [head, rest] = unitLabel(u);
    const note = markerLines(g, r);
    if (r.expanded) {
      const x = LBL_X + 25 * CHAR_W * FS;
      el("path", {d: `M${x} ${y + 2} h4 V${y + r.h - 2} h-4`, fill: "none",
                  stroke: "#555"}, g);
      text(g, x + 10, y + SUBROW_H / 2 + 0.35 * FS, LBL_R, FS, rest + note,
           {}, head);
    } else {
      text(g, LBL_X, y + r.h / 2 + 0.35 * FS, LBL_R, FS, rest + note, {},
           head);
    }
  }

  function drawCluster(g, r) {
    const classes = ["r--", "rw-", "r-x", "rwx", "---"], bytes = [0, 0, 0, 0,
      0, 0], y = TOP + r.y;
    let total = 0, nv = 0, names = [];
    for (let i = r.u0; i < r.u0 + r.nu; i++) {
      const u = view.units[i];
      nv += u.nr;
      for (let k = u.first; k < u.first + u.nr; k++) {
        let c = classes.indexOf(V[k].perms.slice(0, 3));
        if (c < 0) c = 5;
        const s = Math.min(V[k].end, r.end) - Math.max(V[k].start, r.start);
        bytes[c] += s; total += s;
      }
      if (u.kind <= 1) names.push([u.mapped, V[u.first].file ?
        basename(V[u.first].file) : V[u.first].name]);
    }
    names.sort((a, b) => b[0] - a[0]);
    el("rect", {x: BAR_X + 5, y: y + 4, width: BAR_W - 5, height: r.h - 4,
                fill: "#f4f4f4", stroke: "#999"}, g);
    let x = BAR_X;
    bytes.forEach((b, c) => {
      if (!b) return;
      const w = Math.max(1, BAR_W * 0.96 * b / total);
      el("rect", {x, y: y + 1, width: w, height: r.h - 6,
                  fill: color(c < 5 ? classes[c] : "-w-")}, g);
      x += w;
    });
    el("rect", {x: BAR_X, y: y + 1, width: BAR_W - 4, height: r.h - 6,
                fill: "none", stroke: "#222", "stroke-width": 1.5}, g);
    const note = markerLines(g, r);
    let top = names.slice(0, 2).map((n) => n[1]).join(", ");
    if (names.length > 2) top += " +" + (names.length - 2);
    text(g, LBL_X, y + r.h / 2 - 2, LBL_R, FS,
         "cluster of " + count(r.nu) + " bands", {"font-weight": "bold"});
    text(g, LBL_X, y + r.h / 2 + 10, LBL_R, FS_SMALL + 1,
         count(nv) + " VMAs, " + size(total) + " mapped in " +
         size(r.end - r.start) + (top ? ": " + top : "") + note,
         {fill: "#333"});
  }

  function drawGap(g, r) {
    const y = TOP + r.y, bad = r.kind === "guardbad";
    if (r.kind === "gap") {
      el("rect", {x: BAR_X + 30, y: y + 1, width: BAR_W - 60,
                  height: Math.max(0, r.h - 2), fill: "#fbfbfb",
                  stroke: "#bbb", "stroke-dasharray": "3,2"}, g);
      text(g, LBL_X, y + r.h / 2 + 0.35 * FS_SMALL, LBL_R, FS_SMALL,
           "gap " + size(r.end - r.start), {fill: "#777",
                                             "font-style": "italic"});
    } else {
      el("rect", {x: BAR_X, y: y + 1, width: BAR_W, height: r.h - 2,
                  fill: bad ? "url(#hatchbad)" : "url(#hatch)",
                  stroke: bad ? BAD_COLOR : "#888"}, g);
      text(g, LBL_X, y + r.h / 2 + 0.35 * FS, LBL_R, FS,
           bad ? "guard gap " + size(r.end - r.start) + " < " +
                 size(D.guard) + ": the stack cannot grow here"
               : "stack guard gap " + size(r.end - r.start),
           bad ? {fill: BAD_COLOR, "font-weight": "bold"} : {fill: "#555"});
    }
    if (r.h >= 12 && r.end > r.start) {
      el("rect", {x: AX_X - 5, y: y + r.h / 2 - 2, width: 10, height: 4,
                  fill: "white"}, g);
      el("path", {d: `M${AX_X - 5} ${y + r.h / 2 - 0.5} l10 -3 M${AX_X - 5} ` +
                     `${y + r.h / 2 + 3.5} l10 -3`, stroke: "#333"}, g);
    }
  }

  function drawMarker(g, r) {
    const y = TOP + r.y + r.h / 2;
    el("line", {x1: AX_X - 4, y1: y, x2: BAR_X + BAR_W + 4, y2: y,
                stroke: MK_COLOR, "stroke-width": 2,
                "stroke-dasharray": "5,2"}, g);
    el("path", {d: `M${LBL_X - 2} ${y} l-7 -4 v8 z`, fill: MK_COLOR}, g);
    text(g, LBL_X + 2, y + 3.5, LBL_R, 10,
         markerNames(r.markers).join(" = ") + "  " + hex(r.start),
         {fill: MK_COLOR, "font-weight": "bold"});
  }

  function drawAxis(g) {
    const bottom = TOP + view.height;
    el("line", {x1: AX_X, y1: TOP, x2: AX_X, y2: bottom, stroke: "#333"}, g);
    let last = -100;
    const label = (y, a) => {
      if (y - last < 11) return;
      el("line", {x1: AX_X - 4, y1: y, x2: AX_X, y2: y, stroke: "#333"}, g);
      const s = hex(a);
      text(g, AX_LABEL_R - cells(s) * CHAR_W * FS_SMALL, y + 0.35 * FS_SMALL,
           AX_LABEL_R + 1, FS_SMALL, s, {fill: "#444"});
      last = y;
    };
    for (const r of view.rows)
      if (r.kind !== "marker") label(TOP + r.y, r.end);
    if (bottom - last >= 11) label(bottom, view.lo);
  }

  function draw() {
    const l = layout(view.lo, view.hi);
    view.rows = l.rows; view.units = l.units; view.height = l.height;
    const H = Math.ceil(TOP + l.height + 10);
    svg.setAttribute("width", W);
    svg.setAttribute("height", H);
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.dataset.lo = hex(view.lo);
    svg.dataset.hi = hex(view.hi);
    const g = document.getElementById("rows");
    g.textContent = "";
    l.rows.forEach((r, i) => {
      const rg = el("g", {"data-kind": r.kind, "data-row": i,
                          "data-start": hex(r.start), "data-end": hex(r.end)},
                    g);
      el("rect", {x: 0, y: TOP + r.y, width: W, height: r.h,
                  class: "hit"}, rg);
      if (r.kind === "band") drawBand(rg, r);
      else if (r.kind === "cluster") drawCluster(rg, r);
      else if (r.kind === "marker") drawMarker(rg, r);
      else drawGap(rg, r);
    });
    drawAxis(el("g", {}, g));
    document.getElementById("lo").value = hex(view.lo);
    document.getElementById("hi").value = hex(view.hi);
    const whole = view.lo === 0 && view.hi === D.top;
    document.getElementById("where").textContent = whole ?
      "the whole space, 0 to " + hex(D.top) + " (" + size(D.top) + ")" :
      "zoomed: " + hex(view.lo) + "-" + hex(view.hi) + " (" +
      size(view.hi - view.lo) + ")";
    document.body.dataset.rows = l.rows.length;
  }

  // --------------------------------------------------------------------
  // Zoom and hover

  function zoom(lo, hi) {
    lo = Math.max(0, Math.floor(lo / PAGE) * PAGE);
    hi = Math.min(D.top, Math.ceil(hi / PAGE) * PAGE);
    if (!(hi > lo)) return false;
    const h = "#range=" + hex(lo) + "-" + hex(hi);
    if (location.hash !== h) location.hash = h; // hashchange redraws
    else { view.lo = lo; view.hi = hi; draw(); }
    return true;
  }
  function fromHash() {
    const m = /^#range=([0-9a-fA-F]+)-([0-9a-fA-F]+)$/.exec(location.hash);
    let lo = 0, hi = D.top;
    if (m) {
      const a = parseInt(m[1], 16), b = parseInt(m[2], 16);
      if (b > a) { lo = Math.max(0, a); hi = Math.min(D.top, b); }
    }
    view.lo = lo; view.hi = hi;
    draw();
  }
  // The address at pixel y of the picture (inverse of the layout).
  function addrAt(y) {
    for (const r of view.rows) {
      if (y < TOP + r.y || y > TOP + r.y + r.h) continue;
      const f = r.h ? (y - TOP - r.y) / r.h : 0;
      return r.end - f * (r.end - r.start);
    }
    return y < TOP ? view.hi : view.lo;
  }
  function rowOf(target) {
    const g = target.closest && target.closest("g[data-row]");
    return g ? view.rows[+g.dataset.row] : null;
  }
  function tipFor(r, target) {
    if (r.kind === "band") {
      const u = view.units[r.u0], lines = [];
      const vma = target.dataset && target.dataset.vma;
      const [head, rest] = unitLabel(u);
      lines.push(head + rest);
      for (let k = u.first; k < u.first + u.nr && lines.length < 24; k++) {
        const mark = vma !== undefined && +vma === k ? "> " : "  ";
        lines.push(mark + mapsLine(V[k]));
        lines.push("    flags: " + V[k].flags.join(",") +
                   (V[k].rss ? "; rss " + size(V[k].rss * PAGE) : ""));
      }
      if (u.nr > 11) lines.push("  ... " + (u.nr - 11) + " more VMAs");
      return lines.join("\n");
    }
    if (r.kind === "cluster")
      return "cluster of " + count(r.nu) + " bands, " + hex(r.start) + "-" +
             hex(r.end) + "\nclick to zoom in";
    if (r.kind === "marker")
      return markerNames(r.markers).join(" = ") + " " + hex(r.start);
    return r.kind + " " + hex(r.start) + "-" + hex(r.end) + " (" +
           size(r.end - r.start) + ")";
  }

  let drag = null;
  const pt = (ev) => {
    const b = svg.getBoundingClientRect();
    return {x: (ev.clientX - b.left) * W / b.width,
            y: (ev.clientY - b.top) * svg.height.baseVal.value / b.height};
  };
  svg.addEventListener("mousedown", (ev) => {
    drag = {y0: pt(ev).y, moved: false};
    ev.preventDefault();
  });
  svg.addEventListener("mousemove", (ev) => {
    const p = pt(ev);
    if (drag) {
      if (Math.abs(p.y - drag.y0) > 4) drag.moved = true;
      const sel = document.getElementById("sel");
      sel.setAttribute("y", Math.min(p.y, drag.y0));
      sel.setAttribute("height", Math.abs(p.y - drag.y0));
      sel.setAttribute("visibility", drag.moved ? "visible" : "hidden");
    }
    const r = rowOf(ev.target);
    if (!r) { tip.hidden = true; return; }
    tip.textContent = tipFor(r, ev.target);
    tip.hidden = false;
    tip.style.left = (ev.pageX + 14) + "px";
    tip.style.top = (ev.pageY + 14) + "px";
  });
  svg.addEventListener("mouseleave", () => { tip.hidden = true; });
  window.addEventListener("mouseup", (ev) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    document.getElementById("sel").setAttribute("visibility", "hidden");
    const p = pt(ev);
    if (d.moved) {
      const a = addrAt(d.y0), b = addrAt(p.y);
      zoom(Math.min(a, b), Math.max(a, b));
      return;
    }
    const r = rowOf(ev.target);
    if (r && r.end > r.start && (r.end - r.start) < (view.hi - view.lo))
      zoom(r.start, r.end);
  });
  document.getElementById("go").addEventListener("click", () => {
    const a = parseInt(document.getElementById("lo").value, 16);
    const b = parseInt(document.getElementById("hi").value, 16);
    if (!zoom(a, b)) document.getElementById("where").textContent =
      "not a range: give two hex addresses, low then high";
  });
  document.getElementById("all").addEventListener("click",
                                                  () => zoom(0, D.top));
  document.getElementById("back").addEventListener("click",
                                                   () => history.back());
  window.addEventListener("hashchange", fromHash);
  window.vmadView = {view, zoom, layout};
  fromHash();
})();
