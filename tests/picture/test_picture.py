"""Tests of the pictures of `vmactl show`.

    test_picture.py --vmad VMAD --vmactl VMACTL svg|svg-huge|html

svg:      the tiny and process-like samples (samples.py) as SVG: rendered by
          rsvg-convert, canvas bounded, every label inside the canvas and
          clear of the others (text extents computed conservatively from
          the SVG), and what each picture must show;
svg-huge: the same for the 65,530-VMA sample;
html:     the HTML view of the three samples in headless Chromium over the
          DevTools protocol: it loads with no console error and no network
          request, a zoom changes what is drawn, hovering a band shows its
          maps lines and flags, a click on a cluster zooms into it.

A missing rsvg-convert or Chromium fails the test, saying what was found
(scripts/install-deps.sh installs both).
"""
import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import vmadtest  # noqa: E402
import samples  # noqa: E402
import cdp  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"
MAX_W, MAX_H = 1000, 1800
MAX_BYTES = 512 * 1024
# DejaVu Sans Mono advances 0.602 em; 0.62 covers the other monospace
# fonts fontconfig may pick. A non-ASCII character counts two cells.
CHAR_W = 0.62
ARGS = None
DAEMON = None
CONN = None
TMP = None


def cells(s):
    return sum(1 if ord(ch) < 0x80 else 2 for ch in s)


def render(kind):
    """Build sample @kind (once) and write its SVG; return the path."""
    path = os.path.join(TMP, kind + ".svg")
    if not os.path.exists(path):
        if kind not in BUILT:
            samples.BUILDERS[kind](CONN, kind)
            BUILT.add(kind)
        out = subprocess.run([ARGS.vmactl, "--socket", DAEMON.sock, "show",
                              kind, "--svg", path], capture_output=True,
                             text=True, timeout=300)
        if out.returncode:
            raise AssertionError("vmactl show failed: " + out.stderr)
    return path


BUILT = set()


def text_boxes(root):
    """(text, x0, y0, x1, y1, tight box) of every <text>."""
    out = []
    for t in root.iter(SVG + "text"):
        s = "".join(t.itertext())
        if not s:
            continue
        fs = float(t.get("font-size", "16"))
        x, y = float(t.get("x", 0)), float(t.get("y", 0))
        w = cells(s) * CHAR_W * fs
        anchor = t.get("text-anchor", "start")
        x0 = x - w if anchor == "end" else x - w / 2 if anchor == "middle" \
            else x
        # Conservative for the canvas (ascent and descent of any font),
        # tight for overlaps (cap height to descender).
        out.append((s, x0, y - 1.0 * fs, x0 + w, y + 0.3 * fs,
                    (x0, y - 0.72 * fs, x0 + w, y + 0.2 * fs)))
    return out


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


class SvgChecks:
    def check_svg(self, kind):
        path = render(kind)
        size = os.path.getsize(path)
        self.assertLessEqual(size, MAX_BYTES, "%s: %d bytes" % (kind, size))
        root = ET.parse(path).getroot()
        w, h = float(root.get("width")), float(root.get("height"))
        self.assertLessEqual(w, MAX_W)
        self.assertLessEqual(h, MAX_H)
        self.assertEqual(root.get("viewBox"), "0 0 %g %g" % (w, h))
        png = path[:-4] + ".png"
        r = subprocess.run([RSVG, path, "-o", png], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(png_size(png), (int(w), int(h)))
        boxes = text_boxes(root)
        for s, x0, y0, x1, y1, _ in boxes:
            self.assertTrue(x0 >= 0 and x1 <= w and y0 >= 0 and y1 <= h,
                            "%s: label %r at (%.0f,%.0f)-(%.0f,%.0f) "
                            "leaves the %gx%g canvas" %
                            (kind, s, x0, y0, x1, y1, w, h))
        tight = sorted((b[5], b[0]) for b in boxes)
        for i, (a, sa) in enumerate(tight):
            for b, sb in tight[i + 1:]:
                if b[0] >= a[2]:
                    continue
                overlap = (min(a[2], b[2]) - max(a[0], b[0]) > 0.5 and
                           min(a[3], b[3]) - max(a[1], b[1]) > 0.5)
                self.assertFalse(overlap, "%s: labels %r and %r overlap" %
                                 (kind, sa, sb))
        texts = [b[0] for b in boxes]
        titles = [t.text or "" for t in root.iter(SVG + "title")]
        return root, texts, titles, (w, h)


def gap_heights(root):
    """{label: height} of the gap rows (dashed rects with a gap title)."""
    out = {}
    for r in root.iter(SVG + "rect"):
        t = r.find(SVG + "title")
        if t is not None and (t.text or "").startswith("gap "):
            out[t.text.split()[-1]] = float(r.get("height")) + 2
    return out


class SvgTest(unittest.TestCase, SvgChecks):
    def test_tiny(self):
        root, texts, titles, (w, h) = self.check_svg("tiny")
        joined = "\n".join(texts)
        for want in ("[stack]", "libdemo.so", "r-xp     4K @2000",
                     "guard gap 48K < 1M: the stack cannot grow here",
                     "mmap_base  7ffff7fff000",
                     "start_brk = brk  555555559000", "gap 127.8M",
                     "gap 42.7T", "7ffffffff000", "7ffff7fed000"):
            self.assertIn(want, joined)
        # Gaps are drawn to a log scale: 42.7T is taller than 127.8M,
        # which is taller than the 4K gap scale sample, and not linearly.
        g = gap_heights(root)
        self.assertGreater(g["42.7T"], g["127.8M"] + 10, g)
        self.assertLess(g["42.7T"], 3 * g["127.8M"], g)
        # Hover text: the maps lines of the band.
        self.assertTrue(any("r-xp 00002000" in t and "libdemo.so" in t
                            for t in titles), titles)
        self.assertLess(h, 600)

    def test_process(self):
        root, texts, titles, (w, h) = self.check_svg("process")
        joined = "\n".join(texts)
        self.assertRegex(joined, r"\d+ VMAs in \d+ bands")
        nv, nb = map(int, re.search(r"(\d+) VMAs in (\d+) bands",
                                    joined).groups())
        self.assertLess(nb, nv / 3, "VMAs of one object share a band")
        lib = [t for t in texts if t.startswith("libc.so.6  ")]
        self.assertEqual(len(lib), 1, texts)
        self.assertIn("r-xp", lib[0])
        self.assertIn("(+bss)", lib[0])
        self.assertEqual(sum(t.startswith("thread stack?  8M rw-p + 4K "
                                          "guard") for t in texts), 4)
        self.assertGreaterEqual(sum(t.startswith("reservation  ")
                                    for t in texts), 4)
        for want in ("[heap]  ", "[stack]  ", "stack guard gap 1M",
                     "mmap_base  ", "start_brk  ", "brk  "):
            self.assertTrue(any(t.startswith(want) for t in texts), want)
        # The full path of a library is in its band's tooltip.
        self.assertTrue(any("/usr/lib/x86_64-linux-gnu/libc.so.6" in t
                            for t in titles))
        self.assertNotIn("cluster of", joined)


class SvgHugeTest(unittest.TestCase, SvgChecks):
    def test_huge(self):
        root, texts, titles, (w, h) = self.check_svg("huge")
        joined = "\n".join(texts)
        self.assertIn("65,530 VMAs", joined)
        self.assertIn("cluster of", joined)
        self.assertIn("[stack]  ", joined)
        self.assertIn("mmap_base", joined)
        # Each of the eight arenas is summarised, none is dropped.
        clustered = sum(int(m.replace(",", "")) for m in re.findall(
            r"([\d,]+) VMAs, ", joined))
        self.assertGreater(clustered, 60000)


class HtmlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pages = {}
        for kind in ("tiny", "process", "huge"):
            if kind not in BUILT:
                samples.BUILDERS[kind](CONN, kind)
                BUILT.add(kind)
            path = os.path.join(TMP, kind + ".html")
            r = subprocess.run([ARGS.vmactl, "--socket", DAEMON.sock, "show",
                                kind, "--html", path], capture_output=True,
                               text=True, timeout=300)
            assert r.returncode == 0, r.stderr
            cls.pages[kind] = path
        try:
            cls.browser = cdp.Browser()
        except cdp.BrowserError as e:
            raise AssertionError("headless Chromium cannot run: %s" % e)
        print("browser: %s" % cls.browser.found, flush=True)

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()

    def open(self, kind, frag=""):
        p = self.browser.page()
        p.load("file://" + self.pages[kind] + frag)
        return p

    def labels(self, p):
        return p.eval("[...document.querySelectorAll('#rows text')]"
                      ".map(t => t.textContent)")

    def test_self_contained(self):
        with open(self.pages["process"]) as f:
            html = f.read()
        self.assertNotRegex(html, r"(?i)<(script|link|img)[^>]*(src|href)=")
        self.assertNotRegex(html, r"(?i)@font-face|@import|url\(['\"]?http")
        self.assertIn("default-src 'none'", html)

    def test_load_zoom_hover(self):
        p = self.open("process")
        labels = self.labels(p)
        self.assertTrue(any(t.startswith("libc.so.6") for t in labels))
        rows = int(p.eval("document.body.dataset.rows"))
        self.assertGreater(rows, 20)
        # Zoom into libc's band: its VMAs get a line each.
        lo, hi = p.eval("""(() => {
            const g = [...document.querySelectorAll('#rows g[data-kind=band]')]
              .find(g => g.textContent.includes('libc.so.6'));
            return [g.dataset.start, g.dataset.end]; })()""")
        p.eval("location.hash = '#range=%s-%s'" % (lo, hi))
        p.eval("new Promise(r => setTimeout(r, 50))")
        self.assertEqual(p.eval("document.getElementById('pic').dataset.lo"),
                         lo)
        zoomed = self.labels(p)
        self.assertNotEqual(labels, zoomed)
        self.assertLess(int(p.eval("document.body.dataset.rows")), rows)
        self.assertTrue(any(t.startswith("r-xp ") for t in zoomed), zoomed)
        # Hover the band: the tooltip holds its maps lines and flags.
        x, y = p.eval("""(() => {
            const r = document.querySelector('#rows g[data-kind=band] rect[data-vma]')
              .getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2]; })()""")
        p.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x,
                                            "y": y})
        tip = p.eval("document.getElementById('tip').hidden ? '' : "
                     "document.getElementById('tip').textContent")
        self.assertRegex(tip, r"[0-9a-f]+-[0-9a-f]+ r-xp [0-9a-f]{8} "
                              r"[0-9a-f]{2}:[0-9a-f]{2} \d+ +/usr/lib/x86_64-linux-gnu/"
                              r"libc\.so\.6")
        self.assertIn("flags: private", tip)
        self.assertEqual(p.problems(), [])

    def test_tiny_and_fragment(self):
        p = self.open("tiny", "#range=7ffff7fed000-7ffff7ffd000")
        self.assertEqual(p.eval("document.getElementById('pic')"
                                ".dataset.hi"), "7ffff7ffd000")
        labels = self.labels(p)
        self.assertIn("r-xp     4K @2000", labels)
        self.assertFalse(any("[stack]" in t for t in labels))
        self.assertEqual(p.problems(), [])

    def test_huge_click_zooms_into_cluster(self):
        p = self.open("huge")
        self.assertIn("65530 VMAs", p.eval("document.querySelector('h1')"
                                           ".textContent"))
        h = p.eval("document.getElementById('pic').height.baseVal.value")
        self.assertLessEqual(h, 1700)
        before = self.labels(p)
        x, y, start = p.eval("""(() => {
            const g = [...document.querySelectorAll('#rows g[data-kind=cluster]')].pop();
            const r = g.querySelector('rect:not(.hit)').getBoundingClientRect();
            return [r.x + 20, r.y + r.height / 2, g.dataset.start]; })()""")
        p.eval("window.scrollTo(0, 0)")
        for t in ("mousePressed", "mouseReleased"):
            p.call("Input.dispatchMouseEvent", {"type": t, "x": x, "y": y,
                                                "button": "left",
                                                "clickCount": 1})
        p.eval("new Promise(r => setTimeout(r, 200))")
        self.assertEqual(p.eval("document.getElementById('pic')"
                                ".dataset.lo"), start)
        self.assertNotEqual(before, self.labels(p))
        self.assertEqual(p.problems(), [])


def main():
    global ARGS, DAEMON, CONN, TMP, RSVG
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmad", required=True)
    ap.add_argument("--vmactl", required=True)
    ap.add_argument("group", choices=("svg", "svg-huge", "html"))
    ARGS = ap.parse_args()
    RSVG = shutil.which("rsvg-convert")
    if ARGS.group.startswith("svg"):
        if not RSVG:
            print("FAIL: rsvg-convert not found (Debian package "
                  "librsvg2-bin; scripts/install-deps.sh installs it)")
            return 1
        v = subprocess.run([RSVG, "--version"], capture_output=True,
                           text=True).stdout.strip()
        font = subprocess.run(["fc-match", "DejaVu Sans Mono"],
                              capture_output=True, text=True).stdout.strip() \
            if shutil.which("fc-match") else "fc-match not found"
        print("renderer: %s; monospace font: %s" % (v, font), flush=True)
    TMP = tempfile.mkdtemp(prefix="vmad-picture-")
    DAEMON = vmadtest.Vmad(ARGS.vmad)
    CONN = vmadtest.Conn(DAEMON.sock, timeout=300)
    group = {"svg": SvgTest, "svg-huge": SvgHugeTest,
             "html": HtmlTest}[ARGS.group]
    ok = False
    try:
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(group)
        ok = unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful()
    finally:
        CONN.close()
        DAEMON.stop()
        if ok:
            shutil.rmtree(TMP, ignore_errors=True)
        else:
            print("files kept in %s" % TMP)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
