#!/usr/bin/env bash
# Re-fetches the GraphiQL page's scripts and styles into app/graphql/static/graphiql/, the
# files the app serves itself so that /graphql needs no CDN (offline, strict CSP).
#
# Each package is fetched with `npm pack` at a pinned version, its tarball checked against
# the pinned sha512 integrity (the registry's `dist.integrity`), and only the browser
# builds and the license copied, byte for byte. Running it again gives the same files.
# To upgrade: change a version, set its integrity from `npm view <pkg>@<version>
# dist.integrity`, run this script and try the page (tests/graphql/test_graphiql.py).
#
# It also writes THIRD_PARTY_NOTICES.txt: graphiql.min.js is a bundle that holds the code
# of the packages in BUNDLED below (graphql among them) and graphiql.min.css embeds two
# fonts, each under its own license. The packages are found from the bundle's source map
# (graphiql.min.js.map, in the same tarball), each one is fetched with `npm pack` at the
# version pinned in BUNDLED, and every bundled file is checked byte for byte against that
# tarball, so a wrong or missing version stops the run. After a graphiql upgrade, take the
# versions from the graphiql repository's yarn.lock at the release tag (the run names the
# packages that are missing or no longer bundled).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DEST=app/graphql/static/graphiql

# package version integrity files-to-copy (path in the tarball:name here)...
PACKAGES=(
  "react 18.3.1 sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==
   umd/react.production.min.js:react.production.min.js LICENSE:LICENSE.react"
  "react-dom 18.3.1 sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==
   umd/react-dom.production.min.js:react-dom.production.min.js LICENSE:LICENSE.react-dom"
  "graphiql 3.9.0 sha512-rJYFlHdBbug9+YbFSwRVvgfPjCayC7wHecZkx/qB4XLuQPFQZw/yB9pmHFtOJV6RiNBBHro3u1GdocKa3YcGRA==
   graphiql.min.js:graphiql.min.js graphiql.min.css:graphiql.min.css LICENSE:LICENSE.graphiql"
  "graphql-ws 6.4.2 sha512-wxhPhhOGJo8PbGDkBYVE76sZLDrS+GkyrR4bZECSLVbo0pZZNKs0HtBh2Ip/uaUuiVUxwO9ssI9R92buQfNSqQ==
   umd/graphql-ws.min.js:graphql-ws.min.js LICENSE.md:LICENSE.graphql-ws"
)

# The packages bundled into graphiql 3.9.0's graphiql.min.js: name version (a name may be
# listed at several versions when the bundle holds several copies).
BUNDLED=(
  "@babel/runtime 7.27.0"
  "@floating-ui/core 1.3.0"
  "@floating-ui/dom 1.3.0"
  "@floating-ui/react-dom 2.0.1"
  "@graphiql/react 0.29.0"
  "@graphiql/toolkit 0.11.2"
  "@headlessui/react 1.7.15"
  "@n1ru4l/push-pull-async-iterable-iterator 3.1.0"
  "@radix-ui/primitive 1.0.1"
  "@radix-ui/react-collection 1.0.3"
  "@radix-ui/react-compose-refs 1.0.1"
  "@radix-ui/react-context 1.0.1"
  "@radix-ui/react-dialog 1.0.4"
  "@radix-ui/react-direction 1.0.1"
  "@radix-ui/react-dismissable-layer 1.0.4"
  "@radix-ui/react-dropdown-menu 2.0.5"
  "@radix-ui/react-focus-guards 1.0.1"
  "@radix-ui/react-focus-scope 1.0.3"
  "@radix-ui/react-id 1.0.1"
  "@radix-ui/react-menu 2.0.5"
  "@radix-ui/react-popper 1.1.2"
  "@radix-ui/react-portal 1.0.3"
  "@radix-ui/react-presence 1.0.1"
  "@radix-ui/react-primitive 1.0.3"
  "@radix-ui/react-roving-focus 1.0.4"
  "@radix-ui/react-slot 1.0.2"
  "@radix-ui/react-tooltip 1.0.6"
  "@radix-ui/react-use-callback-ref 1.0.1"
  "@radix-ui/react-use-controllable-state 1.0.1"
  "@radix-ui/react-use-escape-keydown 1.0.3"
  "@radix-ui/react-use-layout-effect 1.0.1"
  "@radix-ui/react-use-size 1.0.1"
  "@radix-ui/react-visually-hidden 1.0.3"
  "aria-hidden 1.2.3"
  "clsx 1.2.1"
  "codemirror 5.65.3"
  "codemirror-graphql 2.2.1"
  "copy-to-clipboard 3.3.2"
  "entities 4.5.0"
  "framer-motion 6.5.1"
  "framesync 6.0.1"
  "get-nonce 1.0.1"
  "get-value 3.0.1"
  "graphql 16.9.0"
  "graphql-language-service 5.3.1"
  "graphql-ws 5.14.0"
  "hey-listen 1.0.8"
  "is-plain-object 2.0.4"
  "is-primitive 3.0.1"
  "isobject 3.0.1"
  "linkify-it 5.0.0"
  "markdown-it 14.1.0"
  "mdurl 2.0.0"
  "meros 1.3.0"
  "nullthrows 1.1.1"
  "popmotion 11.0.3"
  "punycode.js 2.3.1"
  "react 18.2.0"
  "react-compiler-runtime 19.1.0-rc.1"
  "react-remove-scroll 2.5.5"
  "react-remove-scroll-bar 2.3.3"
  "react-style-singleton 2.2.1"
  "set-value 4.1.0"
  "style-value-types 5.0.0"
  "toggle-selection 1.0.6"
  "tslib 2.6.2"
  "uc.micro 2.1.0"
  "use-callback-ref 1.3.0"
  "use-sidecar 1.1.2"
  "vscode-languageserver-types 3.17.3"
)
# The graphiql monorepo's own packages appear in the source map as ../../<folder>/...:
# folder:package name.
WORKSPACES="codemirror-graphql:codemirror-graphql graphiql-react:@graphiql/react
  graphiql-toolkit:@graphiql/toolkit graphql-language-service:graphql-language-service"
# MIT packages whose tarball has no license file: package (a trailing * matches a scope)|the
# copyright line of the LICENSE in its repository|that LICENSE. The notice is the MIT text
# with that line.
NO_LICENSE_FILE=(
  "@headlessui/react|Copyright (c) 2020 Tailwind Labs|https://github.com/tailwindlabs/headlessui/blob/main/LICENSE"
  "@radix-ui/*|Copyright (c) 2022 WorkOS|https://github.com/radix-ui/primitives/blob/main/LICENSE"
  "react-compiler-runtime|Copyright (c) Meta Platforms, Inc. and affiliates.|https://github.com/facebook/react/blob/main/LICENSE"
  "react-remove-scroll-bar|Copyright (c) 2025 Anton Korzunov <thekashey@gmail.com>|https://github.com/theKashey/react-remove-scroll-bar/blob/main/LICENSE"
  "react-style-singleton|Copyright (c) 2017 Anton Korzunov|https://github.com/theKashey/react-style-singleton/blob/master/LICENSE"
  "toggle-selection|Copyright (c) 2017 sudodoki <smd.deluzion@gmail.com>|https://github.com/sudodoki/toggle-selection/blob/master/LICENSE"
)
# The license URL a font names (its name table, ID 14) and the SPDX license it stands for.
FONT_LICENSES="http://www.apache.org/licenses/LICENSE-2.0=Apache-2.0 http://scripts.sil.org/OFL=OFL-1.1
  https://scripts.sil.org/OFL=OFL-1.1 https://openfontlicense.org=OFL-1.1"
# The licenses accepted without a second look: another one stops the run.
ALLOWED_LICENSES="0BSD Apache-2.0 BSD-2-Clause BSD-3-Clause ISC MIT OFL-1.1"
# Where the MIT, Apache-2.0 and OFL-1.1 texts come from (SPDX's list; not vendored).
SPDX_LIST="spdx-license-list 6.12.0 sha512-+nUYqm3aZMSHbjsthK+i/HHI2okTElCvqwUd4k8QcSk+FTGgjq+fsdFj2wZOaX6XmR2JdWhf/NeflNnvKOjcnQ=="

command -v npm >/dev/null || { echo "error: npm (node 18+) is needed" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Written aside and moved in place at the end: a failed run leaves the files as they were.
out="$work/out"
mkdir -p "$out"
{
  echo "# Vendored GraphiQL"
  echo
  echo "The browser builds the GraphiQL page at \`/graphql\` loads, served by the app itself"
  echo "(\`app/graphql/ide.py\`) so that the page needs no other host. Generated by"
  echo "\`scripts/vendor-graphiql.sh\`, which fetched them with \`npm pack\`, checked each"
  echo "tarball's integrity and copied these files unchanged. Do not edit them; change the"
  echo "versions in the script and run it again."
  echo
  echo "\`graphql-ws.min.js\` is the \`graphql-transport-ws\` client the page runs subscriptions"
  echo "with, over a WebSocket to the same \`/graphql\`."
  echo
  echo "\`THIRD_PARTY_NOTICES.txt\`, written by the same script, gives the name, version,"
  echo "license and license text of every package bundled into \`graphiql.min.js\` (graphql"
  echo "and React's JSX runtime among them; React and ReactDOM themselves are the separate"
  echo "files below) and of the fonts embedded in \`graphiql.min.css\`. \`graphql-ws.min.js\`"
  echo "bundles no other package. Ship it with these files."
  echo
  echo "| package | version | license | source | file | sha256 |"
  echo "|---|---|---|---|---|---|"
} >"$out/README.md"

# fetch NAME VERSION INTEGRITY: the package's tarball, checked, unpacked in $work/NAME/package.
fetch() {
  local name=$1 version=$2 integrity=$3 actual
  tarball=$(cd "$work" && npm pack --silent "$name@$version")
  actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
  if [ "$actual" != "$integrity" ]; then
    echo "error: $name@$version: integrity $actual, expected $integrity" >&2
    exit 1
  fi
  mkdir -p "$work/$name"
  tar -xzf "$work/$tarball" -C "$work/$name"
}

for entry in "${PACKAGES[@]}"; do
  # shellcheck disable=SC2086 # split on the entry's whitespace, newlines included
  set -- $entry
  name=$1 version=$2 integrity=$3
  shift 3
  fetch "$name" "$version" "$integrity"
  license=$(node -p "require('$work/$name/package/package.json').license")
  source="https://registry.npmjs.org/$name/-/$tarball"
  for file in "$@"; do
    from=${file%%:*}
    to=${file#*:}
    cp "$work/$name/package/$from" "$out/$to"
    sum=$(sha256sum "$out/$to" | cut -d' ' -f1)
    echo "| $name | $version | $license | $source (\`package/$from\`) | \`$to\` | \`$sum\` |" \
      >>"$out/README.md"
  done
done

# shellcheck disable=SC2086 # name version integrity
fetch $SPDX_LIST
mkdir -p "$work/bundled"
cat >"$work/notices.js" <<'JS'
// Writes THIRD_PARTY_NOTICES.txt from graphiql's source map, the BUNDLED packages' tarballs
// and the fonts in graphiql.min.css. Every list is sorted, so the same inputs give the same file.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { execFileSync } = require('child_process');

const [work, outFile] = process.argv.slice(2);
const env = (key) => process.env[key].split('\n').map((s) => s.trim()).filter(Boolean);
const words = (key) => process.env[key].split(/\s+/).filter(Boolean);
const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const fail = (msg) => {
  console.error(`error: ${msg}`);
  process.exit(1);
};
const spdx = (id) => {
  const file = path.join(work, 'spdx-license-list/package/licenses', `${id}.json`);
  if (!fs.existsSync(file)) fail(`no ${id} text in spdx-license-list`);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
};
const clean = (text) =>
  text.replace(/\r\n?/g, '\n').replace(/[ \t]+$/gm, '').replace(/^\n+|\n+$/g, '');

const graphiql = path.join(work, 'graphiql/package');
const js = fs.readFileSync(path.join(graphiql, 'graphiql.min.js'), 'utf8');
const map = JSON.parse(fs.readFileSync(path.join(graphiql, 'graphiql.min.js.map'), 'utf8'));
if (map.file !== 'index.umd.js' || !js.trimEnd().endsWith('sourceMappingURL=index.umd.js.map')) {
  fail('graphiql.min.js.map is not the map of graphiql.min.js');
}
if (!map.sourcesContent || map.sourcesContent.length !== map.sources.length) {
  fail('graphiql.min.js.map has no sourcesContent for every source');
}

// Each source of the bundle: graphiql's own (packages/graphiql), a monorepo package
// (packages/<folder>) or a dependency (node_modules/<name>, maybe nested).
const workspaces = Object.fromEntries(words('WORKSPACES').map((w) => w.split(':')));
const places = new Map(); // where the package sits in the build -> {name, files: [[file, content]]}
let own = 0;
map.sources.forEach((source, i) => {
  const p = path.posix.normalize(path.posix.join('packages/graphiql/dist', map.sourceRoot || '', source));
  let place, name, file;
  const nm = p.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = p.slice(nm + 'node_modules/'.length).split('/');
    const n = rest[0].startsWith('@') ? 2 : 1;
    name = rest.slice(0, n).join('/');
    place = p.slice(0, nm) + 'node_modules/' + name;
    file = rest.slice(n).join('/');
  } else if (p.startsWith('packages/graphiql/')) {
    own++;
    return;
  } else if (p.startsWith('packages/')) {
    const [, folder, ...rest] = p.split('/');
    name = workspaces[folder];
    if (!name) fail(`bundled source ${source}: monorepo folder ${folder} is not in WORKSPACES`);
    place = `packages/${folder}`;
    file = rest.join('/');
  } else {
    fail(`bundled source ${source}: cannot tell its package`);
  }
  if (!places.has(place)) places.set(place, { name, files: [] });
  places.get(place).files.push([file, map.sourcesContent[i]]);
});

// Fetch the pinned versions, all at once.
const pinned = env('BUNDLED').map((line) => line.split(/\s+/));
const pinnedNames = new Set(pinned.map(([name]) => name));
const bundledNames = new Set([...places.values()].map((p) => p.name));
const missing = [...bundledNames].filter((n) => !pinnedNames.has(n)).sort(cmp);
const unused = [...pinnedNames].filter((n) => !bundledNames.has(n)).sort(cmp);
if (missing.length) fail(`bundled but not in BUNDLED (add name version): ${missing.join(' ')}`);
if (unused.length) fail(`in BUNDLED but not bundled (remove): ${unused.join(' ')}`);
const dir = path.join(work, 'bundled');
const packed = JSON.parse(
  execFileSync(
    'npm',
    ['pack', '--json', '--silent', '--ignore-scripts', '--pack-destination', dir,
     ...pinned.map(([n, v]) => `${n}@${v}`)],
    { cwd: dir, maxBuffer: 1 << 28 },
  ).toString(),
);
const pkgs = new Map(); // name@version -> package
for (const p of packed) {
  const root = path.join(dir, p.id);
  fs.mkdirSync(root, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(dir, p.filename), '-C', root]);
  const base = p.name.replace(/^@[^/]+\//, '');
  pkgs.set(`${p.name}@${p.version}`, {
    name: p.name,
    version: p.version,
    integrity: p.integrity,
    url: `https://registry.npmjs.org/${p.name}/-/${base}-${p.version}.tgz`,
    root: path.join(root, 'package'),
    places: [],
    files: 0,
  });
}

// Each place is the pinned version of its name whose files are the bundled ones, byte for byte.
for (const [place, { name, files }] of [...places].sort((a, b) => cmp(a[0], b[0]))) {
  const fits = pinned
    .filter(([n]) => n === name)
    .map(([n, v]) => pkgs.get(`${n}@${v}`))
    .filter((pkg) =>
      files.every(([file, content]) => {
        const f = path.join(pkg.root, file);
        return fs.existsSync(f) && fs.readFileSync(f, 'utf8') === content;
      }),
    );
  if (fits.length !== 1) {
    const versions = pinned.filter(([n]) => n === name).map(([, v]) => v).join(', ');
    fail(`${place}: ${fits.length} of the pinned versions of ${name} (${versions}) hold the bundled files`);
  }
  fits[0].places.push(place);
  fits[0].files += files.length;
}
const unmatched = [...pkgs.values()].filter((p) => !p.places.length).map((p) => `${p.name}@${p.version}`);
if (unmatched.length) fail(`not bundled at this version (remove): ${unmatched.join(' ')}`);

// License of each package: package.json's, and the text of its license file(s).
const mit = spdx('MIT').licenseText;
const fallbacks = env('NO_LICENSE_FILE').map((line) => line.split('|'));
const used = new Set();
const licenseOf = (json) => {
  const l = json.license ?? json.licenses;
  if (typeof l === 'string') return l;
  if (Array.isArray(l)) return l.map((x) => x.type ?? x).join(' OR ');
  if (l && l.type) return l.type;
  return 'UNKNOWN';
};
for (const pkg of pkgs.values()) {
  pkg.license = licenseOf(JSON.parse(fs.readFileSync(path.join(pkg.root, 'package.json'), 'utf8')));
  const files = fs
    .readdirSync(pkg.root)
    .filter((f) => /^(licen[cs]e|copying)([-._].*)?$/i.test(f) && fs.statSync(path.join(pkg.root, f)).isFile())
    .sort(cmp);
  if (files.length) {
    pkg.texts = files.map((f) => [`package/${f} in the tarball`, clean(fs.readFileSync(path.join(pkg.root, f), 'utf8'))]);
    continue;
  }
  const fb = fallbacks.find(([pat]) => (pat.endsWith('*') ? pkg.name.startsWith(pat.slice(0, -1)) : pkg.name === pat));
  if (!fb) fail(`${pkg.name}@${pkg.version} has no license file: add it to NO_LICENSE_FILE`);
  if (pkg.license !== 'MIT') fail(`${pkg.name}@${pkg.version} is ${pkg.license}, NO_LICENSE_FILE is for MIT`);
  used.add(fb[0]);
  const text = mit.replace(/^Copyright \(c\) <year> <copyright holders>$/m, fb[1]);
  if (text === mit) fail('the MIT text of spdx-license-list has no copyright line to fill');
  pkg.texts = [[`no license file in the tarball; MIT text with the copyright line of ${fb[2]}`, clean(text)]];
}
const stale = fallbacks.filter(([pat]) => !used.has(pat)).map(([pat]) => pat);
if (stale.length) fail(`NO_LICENSE_FILE entries no package needs (remove): ${stale.join(' ')}`);

// graphql-ws's UMD build: it has no dependencies, so it bundles none.
const ws = JSON.parse(fs.readFileSync(path.join(work, 'graphql-ws/package/package.json'), 'utf8'));
if (Object.keys(ws.dependencies || {}).length || (ws.bundleDependencies || ws.bundledDependencies)) {
  fail('graphql-ws has dependencies now: its umd build may bundle them, list them in the notices');
}

// Fonts embedded in graphiql.min.css: their own copyright, version and license URL (name table).
function nameTable(buf) {
  const sig = buf.toString('latin1', 0, 4);
  const tag = (b, o) => b.toString('latin1', o, o + 4);
  if (sig === 'wOFF') {
    const n = buf.readUInt16BE(12);
    for (let i = 0, o = 44; i < n; i++, o += 20) {
      if (tag(buf, o) !== 'name') continue;
      const [off, comp, orig] = [buf.readUInt32BE(o + 4), buf.readUInt32BE(o + 8), buf.readUInt32BE(o + 12)];
      const data = buf.subarray(off, off + comp);
      return comp < orig ? zlib.inflateSync(data) : data;
    }
  } else if (sig === 'wOF2') {
    const n = buf.readUInt16BE(12);
    let o = 48;
    const base128 = () => {
      let v = 0;
      for (let i = 0; i < 5; i++) {
        const b = buf[o++];
        v = v * 128 + (b & 0x7f);
        if (!(b & 0x80)) return v;
      }
      throw new Error('bad UIntBase128');
    };
    let start = 0, found = null;
    for (let i = 0; i < n; i++) {
      const flags = buf[o++];
      const known = flags & 0x3f;
      const t = known === 63 ? tag(buf, (o += 4) - 4) : known;
      const version = flags >> 6;
      const length = base128();
      const glyfOrLoca = t === 10 || t === 11 || t === 'glyf' || t === 'loca';
      const stored = (glyfOrLoca ? version !== 3 : version !== 0) ? base128() : length;
      if (t === 5 || t === 'name') {
        if (version !== 0) throw new Error('transformed name table');
        found = [start, length];
      }
      start += stored;
    }
    if (found) {
      const data = zlib.brotliDecompressSync(buf.subarray(o, o + buf.readUInt32BE(20)));
      return data.subarray(found[0], found[0] + found[1]);
    }
  }
  throw new Error(`no name table in ${sig} font`);
}
function names(buf) {
  const t = nameTable(buf);
  const count = t.readUInt16BE(2), strings = t.readUInt16BE(4);
  const out = {};
  for (let i = 0, o = 6; i < count; i++, o += 12) {
    const [platform, , lang, id, len, off] = [0, 2, 4, 6, 8, 10].map((k) => t.readUInt16BE(o + k));
    const raw = t.subarray(strings + off, strings + off + len);
    if (platform === 3 && (lang === 0x409 || !(id in out))) {
      out[id] = Buffer.from(raw).swap16().toString('utf16le');
    } else if (platform === 1 && !(id in out)) {
      out[id] = raw.toString('latin1');
    }
  }
  return out;
}
const fontLicenses = Object.fromEntries(words('FONT_LICENSES').map((w) => [w.slice(0, w.lastIndexOf('=')), w.slice(w.lastIndexOf('=') + 1)]));
const css = fs.readFileSync(path.join(graphiql, 'graphiql.min.css'), 'utf8');
const fonts = new Map();
for (const [, face] of css.matchAll(/@font-face\s*\{([^}]*)\}/g)) {
  const data = face.match(/url\(\s*["']?data:font\/[\w+-]+;base64,([A-Za-z0-9+/=]+)/);
  if (!data) fail(`a @font-face in graphiql.min.css has no embedded font: ${face.slice(0, 200)}`);
  const n = names(Buffer.from(data[1], 'base64'));
  const license = fontLicenses[n[14]];
  if (!license) fail(`font ${n[1]}: license URL ${n[14]} (description ${n[13]}) is not in FONT_LICENSES`);
  const family = (face.match(/font-family:\s*["']?([^;"']+)/) || [])[1];
  if (!family) fail(`a @font-face in graphiql.min.css has no font-family: ${face.slice(0, 200)}`);
  const key = [family, n[5], n[0], n[14]].join('\n');
  if (!fonts.has(key)) fonts.set(key, { family, version: n[5], copyright: n[0], url: n[14], license, faces: 0, names: new Set() });
  fonts.get(key).faces++;
  fonts.get(key).names.add(n[4]);
}
if (!fonts.size) fail('no font in graphiql.min.css? (the notices expect the embedded fonts)');

// Every license must be one we know.
const allowed = new Set(words('ALLOWED_LICENSES'));
const list = [...pkgs.values()].sort((a, b) => cmp(a.name, b.name) || cmp(a.version, b.version));
const fontList = [...fonts.values()].sort(
  (a, b) => cmp(a.family, b.family) || cmp(a.version, b.version) || cmp(a.copyright, b.copyright) || cmp(a.url, b.url),
);
const odd = [...list.map((p) => [`${p.name}@${p.version}`, p.license]), ...fontList.map((f) => [f.family, f.license])]
  .filter(([, l]) => !allowed.has(l));
if (odd.length) fail(`license(s) not in ALLOWED_LICENSES, look at them first: ${odd.map((x) => x.join(' ')).join(', ')}`);

const counts = (items) => {
  const c = new Map();
  for (const { license } of items) c.set(license, (c.get(license) || 0) + 1);
  return [...c].sort((a, b) => b[1] - a[1] || cmp(a[0], b[0])).map(([l, n]) => `${l} ${n}`).join(', ');
};
const rule = '='.repeat(78);
const o = [];
o.push(
  'THIRD-PARTY NOTICES for the vendored GraphiQL files in this directory',
  '',
  'Generated by scripts/vendor-graphiql.sh; do not edit.',
  '',
  'graphiql.min.js is the UMD build of graphiql (its license: LICENSE.graphiql). Besides',
  "graphiql's own code it holds the code of the npm packages below, at the versions given.",
  'They were found from the source map that ships with it (graphiql.min.js.map in the',
  'graphiql tarball), and every bundled file was checked byte for byte against the tarball',
  'named. React and ReactDOM themselves are not bundled (they are react.production.min.js',
  'and react-dom.production.min.js here, see LICENSE.react and LICENSE.react-dom), but',
  "React's JSX runtime is, as is graphql although it is a peer dependency of graphiql.",
  '',
  'graphiql.min.css embeds the fonts listed after the packages (base64 @font-face rules);',
  "their copyright, version and license URL are read from each font's name table.",
  '',
  'graphql-ws.min.js is the UMD build of graphql-ws (its license: LICENSE.graphql-ws);',
  'graphql-ws has no dependencies and bundles no other package.',
  '',
  `Packages: ${list.length} (${counts(list)})`,
  `Fonts: ${fontList.length} (${counts(fontList)})`,
  '',
  'Contents',
  '',
);
const width = Math.max(...list.map((p) => `${p.name} ${p.version}`.length), ...fontList.map((f) => `${f.family} font`.length));
for (const p of list) o.push(`  ${`${p.name} ${p.version}`.padEnd(width)}  ${p.license}`);
for (const f of fontList) o.push(`  ${`${f.family} font`.padEnd(width)}  ${f.license}`);
for (const p of list) {
  o.push('', rule, `${p.name} ${p.version}`, rule, '', `License: ${p.license}`);
  o.push(`Source: ${p.url}`, `Integrity: ${p.integrity}`);
  o.push(`Bundled: ${p.files} file(s) from ${p.places.join(', ')} in the graphiql build`);
  for (const [from, text] of p.texts) o.push(`License text: ${from}`, '', text, '');
}
for (const f of fontList) {
  const lic = spdx(f.license);
  o.push('', rule, `${f.family} font (${f.version})`, rule, '', `License: ${f.license} (${lic.name})`);
  o.push(`Embedded: ${f.faces} @font-face rule(s) in graphiql.min.css (${[...f.names].sort(cmp).join(', ')})`);
  o.push(`License URL in the font: ${f.url}`, `License text: spdx-license-list ${f.license}`, '');
  o.push(f.copyright, '', `This font is licensed under the ${lic.name}:`, '', clean(lic.licenseText), '');
}
fs.writeFileSync(outFile, o.join('\n').replace(/\n+$/, '\n'));
console.log(`THIRD_PARTY_NOTICES.txt: ${list.length} packages (${counts(list)}); fonts: ${counts(fontList)}; graphiql's own sources: ${own}`);
JS
BUNDLED="$(printf '%s\n' "${BUNDLED[@]}")" NO_LICENSE_FILE="$(printf '%s\n' "${NO_LICENSE_FILE[@]}")" \
  WORKSPACES="$WORKSPACES" FONT_LICENSES="$FONT_LICENSES" ALLOWED_LICENSES="$ALLOWED_LICENSES" \
  node "$work/notices.js" "$work" "$out/THIRD_PARTY_NOTICES.txt"

rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
cp -R "$out" "$DEST"
echo "vendored into $DEST:"
ls -l "$DEST"
