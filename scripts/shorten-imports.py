#!/usr/bin/env python3
"""Shortens the names wasm-bindgen gives a page's imports, in the wasm and its JS glue alike.

wasm-bindgen names each import the glue provides `__wbg_<what>_<16 hex digits>`: about 45
bytes, 150 of them in the simulator, stored in the wasm's import section and again as keys in the glue. They
are names only: renaming each to a short one (`a`, `b`, ... `aZ`) in both files changes
nothing the page does and saves about 4 KB of the simulator's gzip budget (README, Figures).
The pages' subresource integrity digests of both files are updated to match.

With --minify the glue is then minified by terser (.tools/terser, installed by
scripts/setup.sh): about 1.9 KB more of the simulator's gzip budget. Release builds only.

Usage: shorten-imports.py [--minify] DIR...   (each DIR holds one `*_bg.wasm` and its `.js`;
the trunk post_build hook, scripts/build-monitor.sh, runs it on the simulator's and the
monitor's).
Fails loudly when a name is not found exactly once as a key in the glue: a wasm-bindgen that
changed its glue must not give a page that cannot load.
"""
import base64
import hashlib
import pathlib
import re
import string
import subprocess
import sys

TERSER = pathlib.Path(__file__).resolve().parent.parent / ".tools/terser/node_modules/.bin/terser"

LETTERS = string.ascii_letters


def leb(data, i):
    result = shift = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def encode_leb(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def name_of(index):
    """a, b, ... Z, aa, ab, ...: valid JS identifiers, short."""
    name = LETTERS[index % 52]
    index //= 52
    while index:
        name = LETTERS[index % 52] + name
        index //= 52
    return name


def skip_limits(data, i):
    flags = data[i]
    i += 1
    _, i = leb(data, i)
    if flags & 1:
        _, i = leb(data, i)
    return i


def rename_imports(wasm):
    """The wasm with its glue imports renamed, and {old: new}."""
    assert wasm[:4] == b"\0asm", "not a wasm module"
    out = bytearray(wasm[:8])
    renames = {}
    modules = {}
    i = 8
    while i < len(wasm):
        section = wasm[i]
        size, body = leb(wasm, i + 1)
        end = body + size
        if section != 2:
            out += wasm[i:end]
            i = end
            continue
        count, j = leb(wasm, body)
        entries = bytearray(encode_leb(count))
        for _ in range(count):
            length, j = leb(wasm, j)
            module = wasm[j:j + length]
            j += length
            length, j = leb(wasm, j)
            field = wasm[j:j + length].decode()
            j += length
            start = j
            kind = wasm[j]
            j += 1
            if kind == 0:  # function: its type
                _, j = leb(wasm, j)
            elif kind == 1:  # table: element type, limits
                j = skip_limits(wasm, j + 1)
            elif kind == 2:  # memory: limits
                j = skip_limits(wasm, j)
            elif kind == 3:  # global: value type, mutability
                j += 2
            else:
                raise SystemExit(f"shorten-imports: import kind {kind} unknown")
            if field.startswith("__wbg_") or field.startswith("__wbindgen_"):
                # The glue provides each name once, as one object's key: a name imported from
                # two modules could not be told apart there.
                if modules.setdefault(field, module) != module or field in renames:
                    raise SystemExit(f"shorten-imports: {field} is imported twice")
                new = name_of(len(renames))
                renames[field] = new
                field = new
            name = field.encode()
            entries += encode_leb(len(module)) + module + encode_leb(len(name)) + name
            entries += wasm[start:j]
        out += bytes([2]) + encode_leb(len(entries)) + entries
        i = end
    return bytes(out), renames


def integrity(data):
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def minified(js):
    """The glue minified: compressed and its local names mangled; an ES module's exports kept."""
    if not TERSER.exists():
        raise SystemExit(f"shorten-imports: {TERSER} is missing: run scripts/setup.sh")
    done = subprocess.run([str(TERSER), "--module", "--compress", "--mangle"], input=js,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"shorten-imports: terser failed: {done.stderr}")
    return done.stdout


def shorten(directory, minify):
    found = sorted(directory.glob("*_bg.wasm"))
    if len(found) != 1:
        raise SystemExit(f"shorten-imports: {directory} holds {len(found)} *_bg.wasm files, not one")
    wasm_path = found[0]
    js_path = wasm_path.with_name(wasm_path.name[: -len("_bg.wasm")] + ".js")
    wasm, renames = rename_imports(wasm_path.read_bytes())
    js = js_path.read_text(encoding="utf-8")
    for old, new in renames.items():
        key = re.compile(r"\b" + re.escape(old) + r"(?=\s*:)")
        js, found = key.subn(new, js)
        if found != 1:
            raise SystemExit(f"shorten-imports: {old} is a key {found} times in {js_path.name}, not once")
        if re.search(r"\b" + re.escape(old) + r"\b", js):
            raise SystemExit(f"shorten-imports: {old} is still named in {js_path.name}")
    if minify:
        js = minified(js)
    # Trunk's page names each file with its subresource integrity digest: the new bytes' too.
    html_paths = list(directory.glob("*.html"))
    pages = {path: path.read_text(encoding="utf-8") for path in html_paths}
    for path, new in ((wasm_path, wasm), (js_path, js.encode())):
        old, now = integrity(path.read_bytes()), integrity(new)
        named = 0
        for page in pages:
            named += pages[page].count(old)
            pages[page] = pages[page].replace(old, now)
        if named == 0:
            raise SystemExit(f"shorten-imports: no page in {directory} names {path.name}'s digest")
    wasm_path.write_bytes(wasm)
    js_path.write_bytes(js.encode())
    for page, text in pages.items():
        page.write_bytes(text.encode())
    done = " (glue minified)" if minify else ""
    print(f"shorten-imports: {len(renames)} imports renamed in {wasm_path.name} and {js_path.name}{done}")


if __name__ == "__main__":
    args = sys.argv[1:]
    minify = "--minify" in args
    directories = [a for a in args if a != "--minify"]
    if not directories:
        raise SystemExit(__doc__)
    for path in directories:
        shorten(pathlib.Path(path), minify)
