#!/usr/bin/env python3
"""The installed tree. `cmake --install` into a temporary prefix, then:

- every absolute path the systemd unit names exists there (ExecStart's
  program and its --config file, ExecReload's program, the Documentation
  file and manual page), and the unit's RuntimeDirectory holds the socket
  the installed configuration names;
- the installed vmad reads the installed configuration;
- `systemd-analyze verify` accepts the unit, where systemd-analyze exists
  (where it does not, the test says so and checks the rest);
- DESTDIR installs name the final paths, not the staging ones.

usage: test_install.py --build DIR --source DIR --cc CC
                       [--systemd-analyze PATH]"""
import argparse
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--build", required=True)
ap.add_argument("--source", required=True)
ap.add_argument("--cc", required=True)
ap.add_argument("--systemd-analyze", help="found at configure time")
ARGS = ap.parse_args()
tmp = tempfile.mkdtemp(prefix="vmad-install-")
atexit.register(shutil.rmtree, tmp, True)
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg, flush=True)


def run(*cmd, env=None, **kw):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([str(c) for c in cmd], capture_output=True,
                       text=True, env=e, timeout=240, **kw)
    return p


def install(prefix, destdir=None):
    p = run("cmake", "--install", ARGS.build, "--prefix", prefix,
            env={"DESTDIR": destdir} if destdir else {})
    if p.returncode:
        print(p.stdout + p.stderr)
        sys.exit("FAIL: cmake --install failed")
    return p.stdout


def unit_paths(unit_text):
    """Every absolute path the unit names, with what names it."""
    paths = []
    for line in unit_text.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        key, val = line.split("=", 1)
        if key in ("ExecStart", "ExecReload", "ExecStop", "ExecStartPre"):
            words = val.split()
            paths.append((key, words[0].lstrip("-@:+!"), "exec"))
            for i, w in enumerate(words):
                if w == "--config":
                    paths.append((key + " --config", words[i + 1], "file"))
        elif key == "Documentation":
            for uri in val.split():
                if uri.startswith("file://"):
                    paths.append((key, uri[len("file://"):], "file"))
                elif uri.startswith("man:"):
                    m = re.match(r"man:([\w.-]+)\((\d)\)", uri)
                    paths.append((key, m and (m.group(1), m.group(2)), "man"))
    return paths


# 1. A temporary prefix.
prefix = os.path.join(tmp, "prefix")
install(prefix)
unit_file = os.path.join(prefix, "lib/systemd/system/vmad.service")
check(os.path.isfile(unit_file), "no unit at " + unit_file)
unit = open(unit_file).read()
paths = unit_paths(unit)
kinds = {k for k, _, _ in paths}
check({"ExecStart", "ExecStart --config", "ExecReload",
       "Documentation"} <= kinds, f"unit names too little: {paths}")
for key, path, kind in paths:
    if kind == "man":
        check(path is not None, f"{key}: bad man: URI")
        if path:
            page = os.path.join(prefix, "share/man", "man" + path[1],
                                "%s.%s" % path)
            check(os.path.isfile(page) or os.path.isfile(page + ".gz"),
                  f"{key}: no manual page {page}")
        continue
    check(os.path.isabs(path), f"{key}: {path} is not absolute")
    if path.startswith(prefix):
        pass
    elif path.startswith("/bin/") or path.startswith("/usr/bin/"):
        pass  # a system program (kill)
    else:
        check(False, f"{key}: {path} is outside the prefix {prefix}")
    if kind == "exec":
        check(os.access(path, os.X_OK), f"{key}: {path} is not executable")
    else:
        check(os.path.isfile(path), f"{key}: {path} does not exist")
    print(f"ok   {key}: {path}")

m = re.search(r"(?m)^ExecStart=(\S+)\s.*--config (\S+)", unit)
check(m is not None, "ExecStart has no --config")
check("--socket" not in unit.split("ExecStart=", 1)[1].splitlines()[0],
      "ExecStart overrides the configuration's socket")
if m:
    vmad, conf = m.group(1), m.group(2)
    p = run(vmad, "--config", conf, "--dump-config",
            env={"VMAD_SOCKET": ""})
    check(p.returncode == 0, f"installed vmad rejects {conf}: {p.stderr}")
    sock = re.search(r'(?m)^socket "(.*)"$', p.stdout)
    rt = re.search(r"(?m)^RuntimeDirectory=(\S+)$", unit)
    check(sock and rt and os.path.dirname(sock.group(1)) ==
          "/run/" + rt.group(1),
          f"the configuration's socket {sock and sock.group(1)} is not in "
          f"the unit's RuntimeDirectory {rt and rt.group(1)}")
    print(f"ok   socket {sock and sock.group(1)} in RuntimeDirectory")
    # The installed file differs from the repository's only there, and
    # in the state directory, which is the unit's StateDirectory.
    repo = open(os.path.join(ARGS.source, "etc/vmad.conf")).read()
    inst = open(conf).read()
    diff = [l for l in inst.splitlines() if l not in repo.splitlines()]
    check(all(l.startswith(("socket ", "socket_group ", "state_dir ", "#"))
              for l in diff), f"installed vmad.conf differs in {diff}")
    state = re.search(r'(?m)^state_dir "(.*)"$', p.stdout)
    sd = re.search(r"(?m)^StateDirectory=(\S+)$", unit)
    check(state and sd and state.group(1) == "/var/lib/" + sd.group(1),
          f"the configuration's state_dir {state and state.group(1)} is "
          f"not the unit's StateDirectory {sd and sd.group(1)}")
    print(f"ok   state_dir {state and state.group(1)} is the "
          "StateDirectory")

analyze = ARGS.systemd_analyze or shutil.which("systemd-analyze")
if analyze:
    man = shutil.which("man") is not None
    p = run(analyze, "verify", "--man=" + ("yes" if man else "no"),
            unit_file,
            env={"MANPATH": os.path.join(prefix, "share/man") + ":"})
    check(p.returncode == 0 and not p.stderr.strip(),
          f"systemd-analyze verify: {p.returncode}: {p.stdout}{p.stderr}")
    print("ok   systemd-analyze verify" +
          ("" if man else " (no man program here: --man=no)"))
else:
    print("skip systemd-analyze verify: systemd-analyze is not installed "
          "(Debian package systemd)")

# Manual pages for the four programs.
for page in ("man8/vmad.8", "man1/vmactl.1", "man1/vma-replay.1",
             "man1/vma-bench.1", "man1/vma-record.1"):
    path = os.path.join(prefix, "share/man", page)
    ok = os.path.isfile(path) and open(path).read().startswith(".\\\"")
    check(ok and ".SH SYNOPSIS\n" in open(path).read(),
          f"no manual page {path}")
    if ok and shutil.which("man"):
        p = run("man", "-l", "-P", "cat", path, env={"MANWIDTH": "80"})
        check(p.returncode == 0 and "SYNOPSIS" in p.stdout,
              f"man -l {path}: {p.stderr}")
print("ok   manual pages vmad(8), vmactl(1), vma-replay(1), vma-bench(1), "
      "vma-record(1)")

# Bash completion of the installed vmactl.
comp = os.path.join(prefix, "share/bash-completion/completions/vmactl")
check(os.path.isfile(comp), "no bash completion " + comp)
script = f"""source {comp}
comp() {{ COMP_WORDS=("$@"); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1));
  COMPREPLY=(); _vmactl; echo "${{COMPREPLY[*]}}"; }}
comp vmactl mm; comp vmactl space d; comp vmactl mmap s --le
complete -p vmactl
"""
p = run("bash", "-c", script,
        env={"PATH": os.path.join(prefix, "bin") + ":" + os.environ["PATH"]})
check(p.stdout.splitlines()[:3] == ["mmap", "destroy", "--length"] and
      "_vmactl" in p.stdout, f"completion: {p.stdout!r} {p.stderr}")
print("ok   bash completion of vmactl")

# libvmc: a program of one's own, built with pkg-config against the
# installed header and library, talks to the installed vmad.
libdir = os.path.join(prefix, "lib")
pc = run("pkg-config", "--cflags", "--libs", "libvmc",
         env={"PKG_CONFIG_PATH": os.path.join(libdir, "pkgconfig")})
incs = [os.path.normpath(w[2:]) for w in pc.stdout.split()
        if w.startswith("-I")]
check(pc.returncode == 0 and os.path.join(prefix, "include") in incs,
      f"pkg-config libvmc: {pc.stdout}{pc.stderr}")
prog = os.path.join(tmp, "ping.c")
with open(prog, "w") as f:
    f.write(r"""#include <stdio.h>
#include <vmc.h>
int main(int argc, char **argv)
{
	struct vmc_conn c;
	json_t *resp;
	int ret = vmc_connect(&c, argv[1]);

	if (ret || vmc_call(&c, "ping", NULL, &resp))
		return 3;
	printf("%s\n", json_string_value(json_object_get(
		json_object_get(resp, "result"), "version")));
	json_decref(resp);
	vmc_close(&c);
	return 0;
}
""")
exe = os.path.join(tmp, "ping")
p = run(ARGS.cc, prog, "-o", exe, *pc.stdout.split(), f"-Wl,-rpath,{libdir}")
check(p.returncode == 0, f"cannot build against libvmc: {p.stderr}")
sock = os.path.join(tmp, "vmad.sock")
daemon = subprocess.Popen([os.path.join(prefix, "bin/vmad"), "--socket",
                           sock], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
try:
    daemon.stdout.readline()
    p = run(exe, sock)
    check(p.returncode == 0 and re.match(r"^\d+\.\d+\.\d+\n$", p.stdout),
          f"the libvmc program: {p.returncode} {p.stdout} {p.stderr}")
finally:
    daemon.terminate()
    daemon.wait(timeout=30)
if shutil.which("nm"):
    p = run("nm", "-D", "--defined-only", os.path.join(libdir, "libvmc.so"))
    syms = [l.split()[-1] for l in p.stdout.splitlines() if l.strip()]
    check(syms and all(x.startswith("vmc_") or x == "VMC_0" for x in syms),
          f"libvmc exports more than vmc_*: {syms}")
print("ok   libvmc: pkg-config, header, a program built and run against it")

# 2. An existing, edited configuration is kept on a second install.
conf = os.path.join(prefix, "etc/vmad/vmad.conf")
with open(conf, "a") as f:
    f.write("workers 3\n")
install(prefix)
check(open(conf).read().endswith("workers 3\n"),
      "a second install overwrote an edited vmad.conf")
check(os.path.isfile(conf + ".new"), "no vmad.conf.new beside the kept one")
print("ok   an edited vmad.conf is kept, vmad.conf.new beside it")

# 3. DESTDIR: the staged unit names the final paths.
stage = os.path.join(tmp, "stage")
install("/usr", destdir=stage)
staged = open(os.path.join(stage, "usr/lib/systemd/system/vmad.service"))
text = staged.read()
check("ExecStart=/usr/bin/vmad " in text and
      "--config /etc/vmad/vmad.conf" in text, text)
check(os.path.isfile(os.path.join(stage, "etc/vmad/vmad.conf")),
      "DESTDIR with prefix /usr: no etc/vmad/vmad.conf")
check(stage not in text, "the staged unit names the staging directory")
print("ok   DESTDIR install for prefix /usr names /usr/bin and /etc")

if failures:
    print(f"{len(failures)} failed")
    sys.exit(1)
print("test_install: ok")
