/**
 * The repository describes itself: every relative link in its Markdown points to a file (and
 * heading) that exists, every file, folder or section that its Markdown or a comment in src,
 * proto, bench, scripts or test cites exists, and nothing cites a document that lives outside the
 * repository.
 * Reads files only; no child processes.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Not part of the repository: dependencies, build output, local data. */
const SKIP_DIRS = new Set(['node_modules', '.git', 'dist', 'data', 'coverage', '.bench']);
/** Folders whose comments must cite only what exists. */
const COMMENT_DIRS = ['src', 'proto', 'bench', 'scripts', 'test'];
const CODE_FILE = /\.(ts|mts|cts|js|mjs|cjs|proto)$/;
/** Top-level folders a cited path may be relative to (`compactd/v1/compactd.proto` under proto/). */
const TOP_DIRS = ['src', 'test', 'bench', 'scripts', 'proto', 'deploy', 'docs', 'bin', '.ci'];

/** Documents that live outside the repository; built from pieces so this file does not cite them. */
const OUTSIDE = [
  ['..', 'shared'].join('/'),
  ['', 'work', 'shared'].join('/'),
  ['CONTRACT', 'md'].join('.'),
  ['DESIGN', 'md'].join('.'),
  ['materialize-persist', 'md'].join('.'),
];

/** Every file of the repository, as paths relative to the root with `/` separators. */
function repoFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      if (SKIP_DIRS.has(e.name)) continue;
      const rel = dir === '' ? e.name : `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.isFile()) out.push(rel);
    }
  };
  walk('');
  return out.sort();
}

function read(rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8');
}

// ---------------------------------------------------------------------------------------------
// Markdown

export interface Heading {
  /** The heading's text without Markdown markup: what a citation of the heading by name quotes. */
  readonly text: string;
  /** Its anchor, as GitHub generates it. */
  readonly anchor: string;
}

/** Text outside fenced code blocks, line by line (fenced lines become empty, so numbers stay). */
function proseLines(md: string): string[] {
  let fence: string | undefined;
  return md.split('\n').map((line) => {
    const m = /^\s*(```+|~~~+)/.exec(line);
    if (m) {
      if (fence === undefined) fence = m[1][0];
      else if (m[1][0] === fence) fence = undefined;
      return '';
    }
    return fence === undefined ? line : '';
  });
}

/** GitHub's anchor of a heading: lowercase, punctuation dropped, spaces as hyphens. */
export function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The ATX headings of a Markdown document, with unique anchors (`x`, `x-1`, ...). */
export function headings(md: string): Heading[] {
  const seen = new Map<string, number>();
  const out: Heading[] = [];
  for (const line of proseLines(md)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const text = m[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/`/g, '').trim();
    const base = slug(text);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.push({ text, anchor: n === 0 ? base : `${base}-${n}` });
  }
  return out;
}

/** Link targets of a Markdown document (inline links and reference definitions), outside code. */
export function linkTargets(md: string): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  proseLines(md).forEach((raw, i) => {
    const line = raw.replace(/`[^`]*`/g, '');
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ line: i + 1, target: m[1] });
    const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(line);
    if (def) out.push({ line: i + 1, target: def[1] });
  });
  return out;
}

/**
 * Problems with the relative links of Markdown file `rel` (its text is `md`); `has` says whether a
 * repository path exists, `readDoc` reads a Markdown file of the repository.
 */
export function linkProblems(
  rel: string,
  md: string,
  has: (rel: string) => boolean,
  readDoc: (rel: string) => string | undefined,
): string[] {
  const problems: string[] = [];
  for (const { line, target } of linkTargets(md)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // absolute URL
    const hash = target.indexOf('#');
    const pathPart = decodeURI(hash < 0 ? target : target.slice(0, hash));
    const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const where = `${rel}:${line}: link ${target}`;
    const dest = pathPart === '' ? rel : relative(ROOT, resolve(ROOT, dirname(rel), pathPart)).split(sep).join('/');
    if (pathPart !== '' && (dest.startsWith('..') || !has(dest))) {
      problems.push(`${where}: ${dest} does not exist in the repository`);
      continue;
    }
    if (anchor === undefined || anchor === '') continue;
    const doc = dest.endsWith('.md') ? readDoc(dest) : undefined;
    if (doc === undefined) {
      problems.push(`${where}: #${anchor} points into ${dest}, which is not a Markdown file`);
    } else if (!headings(doc).some((h) => h.anchor === anchor)) {
      problems.push(`${where}: ${dest} has no heading with anchor #${anchor}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Comments

/** The comments of a source file, each as one line of text (comment markers removed). */
export function comments(rel: string, text: string): string[] {
  const raw: string[] = [];
  if (rel.endsWith('.proto')) {
    // Proto files have no strings that could hold `//`.
    for (const line of text.split('\n')) {
      const i = line.indexOf('//');
      if (i >= 0) raw.push(line.slice(i));
    }
  } else {
    // The TypeScript parser knows where strings, templates and regular expressions end.
    const kind = /\.(c|m)?js$/.test(rel) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
    const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, false, kind);
    const seen = new Set<number>();
    const add = (ranges: ts.CommentRange[] | undefined): void => {
      for (const r of ranges ?? []) {
        if (seen.has(r.pos)) continue;
        seen.add(r.pos);
        raw.push(text.slice(r.pos, r.end));
      }
    };
    const visit = (node: ts.Node): void => {
      add(ts.getLeadingCommentRanges(text, node.getFullStart()));
      add(ts.getTrailingCommentRanges(text, node.getEnd()));
      for (const child of node.getChildren(sf)) visit(child);
    };
    visit(sf);
  }
  return raw.map((c) =>
    c
      .replace(/^\/\*+|\*+\/$/g, '')
      .split('\n')
      .map((l) => l.replace(/^\s*(\/\/+|\*+)?\s?/, ''))
      .join(' '),
  );
}

/** Path-like tokens: names with a file extension, and paths under a top-level folder. */
const FILE_TOKEN = /(?<![\w@:/.\\-])((?:\.{1,2}\/)*(?:[\w.-]+\/)*[\w-][\w.-]*\.(?:md|ts|js|mjs|cjs|proto|json|ya?ml))(?![\w/-])/g;
const DIR_TOKEN = new RegExp(`(?<![\\w@:/.\\\\-])((?:${TOP_DIRS.map((d) => d.replace('.', '\\.')).join('|')})/[\\w./-]*)`, 'g');
/** Names that look like files but are not paths. */
const NOT_PATHS = new Set(['Node.js', 'node.js']);

/** The repository paths a comment of file `rel` cites. */
export function citedPaths(comment: string): string[] {
  const out = new Set<string>();
  for (const re of [FILE_TOKEN, DIR_TOKEN]) {
    for (const m of comment.matchAll(re)) {
      const token = m[1].replace(/[./]+$/, '');
      if (token === '' || NOT_PATHS.has(token)) continue;
      // Build output is not in the repository; its sources are.
      if (/(^|\/)dist(\/|$)/.test(token)) continue;
      out.add(token);
    }
  }
  return [...out];
}

/**
 * True when `token`, cited in file `rel`, names something in the repository: a path relative to
 * the citing file's folder, a folder above it or a top-level folder; a bare file name (`s3.ts`)
 * may name a file in any folder.
 */
export function resolves(rel: string, token: string, has: (rel: string) => boolean, hasName: (name: string) => boolean): boolean {
  const names = token.endsWith('.js') ? [token, token.replace(/\.js$/, '.ts')] : [token];
  if (!token.includes('/') && names.some(hasName)) return true;
  const bases: string[] = [];
  // The citing file's folder and each folder above it, then each top-level folder.
  for (let d = dirname(rel); ; d = dirname(d)) {
    bases.push(d === '.' ? '' : d);
    if (d === '.' || d === '') break;
  }
  for (const top of TOP_DIRS) bases.push(top);
  return bases.some((b) =>
    names.some((n) => {
      const p = relative(ROOT, resolve(ROOT, b, n)).split(sep).join('/');
      return !p.startsWith('..') && has(p);
    }),
  );
}

/** Citations of a heading of a document under docs/, by name (`, "Heading"`) or by `#anchor`. */
export function sectionCitations(text: string): { file: string; heading?: string; anchor?: string }[] {
  const out: { file: string; heading?: string; anchor?: string }[] = [];
  for (const m of text.matchAll(/(docs\/[\w.-]+\.md)(?:,\s*"([^"]+)"|#([\w-]+))/g)) {
    out.push(m[2] !== undefined ? { file: m[1], heading: m[2] } : { file: m[1], anchor: m[3] });
  }
  return out;
}

function sectionProblems(where: string, text: string, readDoc: (rel: string) => string | undefined): string[] {
  const problems: string[] = [];
  for (const c of sectionCitations(text)) {
    const doc = readDoc(c.file);
    if (doc === undefined) {
      problems.push(`${where}: cites ${c.file}, which does not exist`);
      continue;
    }
    const hs = headings(doc);
    if (c.heading !== undefined && !hs.some((h) => h.text === c.heading)) {
      problems.push(`${where}: cites ${c.file}, "${c.heading}", which is not a heading of ${c.file}`);
    }
    if (c.anchor !== undefined && !hs.some((h) => h.anchor === c.anchor)) {
      problems.push(`${where}: cites ${c.file}#${c.anchor}, which is not a heading of ${c.file}`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------

const FILES = repoFiles();
const FILE_SET = new Set(FILES);
const DIR_SET = new Set(FILES.flatMap((f) => f.split('/').slice(0, -1).map((_, i, segs) => segs.slice(0, i + 1).join('/'))));
const has = (rel: string): boolean => FILE_SET.has(rel) || DIR_SET.has(rel);
const BASE_NAMES = new Set(FILES.map((f) => f.slice(f.lastIndexOf('/') + 1)));
const hasName = (name: string): boolean => BASE_NAMES.has(name);
const readDoc = (rel: string): string | undefined => (FILE_SET.has(rel) ? read(rel) : undefined);
const MARKDOWN = FILES.filter((f) => f.endsWith('.md'));
const CODE = FILES.filter((f) => COMMENT_DIRS.some((d) => f.startsWith(`${d}/`)) && CODE_FILE.test(f));

describe('the repository describes itself', () => {
  it('has its contract and design notes', () => {
    expect(FILE_SET.has('docs/contract.md')).toBe(true);
    expect(FILE_SET.has('docs/design.md')).toBe(true);
  });

  it('relative links, cited paths and cited sections in Markdown exist', () => {
    expect(MARKDOWN).toContain('README.md');
    const problems = MARKDOWN.flatMap((rel) => {
      const md = read(rel);
      const paths = proseLines(md).flatMap((line, i) =>
        citedPaths(line)
          .filter((token) => !resolves(rel, token, has, hasName))
          .map((token) => `${rel}:${i + 1}: cites ${token}, which is not in the repository`),
      );
      return [...linkProblems(rel, md, has, readDoc), ...sectionProblems(rel, md, readDoc), ...paths];
    });
    expect(problems).toEqual([]);
  });

  it('files, folders and sections cited in comments exist', () => {
    expect(CODE.length).toBeGreaterThan(100);
    const problems: string[] = [];
    for (const rel of CODE) {
      for (const c of comments(rel, read(rel))) {
        for (const token of citedPaths(c)) {
          if (!resolves(rel, token, has, hasName)) problems.push(`${rel}: a comment cites ${token}, which is not in the repository`);
        }
        problems.push(...sectionProblems(rel, c, readDoc));
      }
    }
    expect(problems).toEqual([]);
  });

  it('nothing cites documents outside the repository', () => {
    const problems: string[] = [];
    for (const rel of FILES) {
      if (statSync(join(ROOT, rel)).size > 4 << 20) continue;
      const text = read(rel);
      if (text.includes('\0')) continue; // binary
      text.split('\n').forEach((line, i) => {
        for (const doc of OUTSIDE) if (line.includes(doc)) problems.push(`${rel}:${i + 1}: cites ${doc}`);
      });
    }
    expect(problems).toEqual([]);
  });
});

describe('the checks themselves', () => {
  const docs: Record<string, string> = {
    'docs/a.md': '# Title\n\n## The `diffs_sum` rule\n\n## Keys, and more\n\n## Keys, and more\n\n```\n# not a heading\n```\n',
  };
  const readFake = (rel: string): string | undefined => docs[rel];

  it('computes GitHub anchors', () => {
    expect(headings(docs['docs/a.md']).map((h) => h.anchor)).toEqual(['title', 'the-diffs_sum-rule', 'keys-and-more', 'keys-and-more-1']);
    expect(headings(docs['docs/a.md'])[1].text).toBe('The diffs_sum rule');
  });

  it('finds broken links, missing files and missing headings', () => {
    const md = [
      '[ok](docs/contract.md) [ok](#keys) [web](https://example.com/x.md)',
      '[gone](docs/nowhere.md) [bad anchor](docs/contract.md#no-such-heading)',
      '`[in code](missing.md)`',
      '```',
      '[in a fence](missing.md)',
      '```',
      '[ref]: ./gone.md',
      '## Keys',
    ].join('\n');
    const fakeDocs: Record<string, string> = { 'README.md': md, 'docs/contract.md': '# Contract\n' };
    const problems = linkProblems('README.md', md, (rel) => rel in fakeDocs, (rel) => fakeDocs[rel]);
    expect(problems).toEqual([
      'README.md:2: link docs/nowhere.md: docs/nowhere.md does not exist in the repository',
      'README.md:2: link docs/contract.md#no-such-heading: docs/contract.md has no heading with anchor #no-such-heading',
      'README.md:7: link ./gone.md: gone.md does not exist in the repository',
    ]);
  });

  it('reads comments, not strings or regular expressions', () => {
    const src = [
      "const a = '// src/not-a-comment.ts';",
      'const re = /\\/\\/ src\\/nor-this.ts/;',
      '/**',
      ' * See src/model/keys.ts and docs/a.md, "The diffs_sum rule", model/errors.ts and s3.ts, not gone.ts.',
      ' */',
      'export const b = `/* src/in-template.ts */`; // trailing: ../blob/blob.js',
      'function f() {',
      '  return 1;',
      '  // before a brace: spec/old.md',
      '}',
    ].join('\n');
    const found = comments('src/x/y.ts', src).flatMap(citedPaths);
    expect(found.sort()).toEqual(['../blob/blob.js', 'docs/a.md', 'gone.ts', 'model/errors.ts', 's3.ts', 'spec/old.md', 'src/model/keys.ts']);
    const files = ['src/model/keys.ts', 'src/model/errors.ts', 'src/blob/blob.ts', 'src/blob/s3.ts', 'docs/a.md'];
    const fakeHas = (rel: string) => files.includes(rel);
    const fakeHasName = (name: string) => files.some((f) => f.endsWith(`/${name}`));
    expect(found.filter((t) => !resolves('src/x/y.ts', t, fakeHas, fakeHasName)).sort()).toEqual(['gone.ts', 'spec/old.md']);
  });

  it('checks the sections a citation names', () => {
    const text = 'docs/a.md, "The diffs_sum rule"; docs/a.md, "Gone"; docs/a.md#keys-and-more-1; docs/a.md#nope; docs/b.md, "X"';
    expect(sectionProblems('f.ts', text, readFake)).toEqual([
      'f.ts: cites docs/a.md, "Gone", which is not a heading of docs/a.md',
      'f.ts: cites docs/a.md#nope, which is not a heading of docs/a.md',
      'f.ts: cites docs/b.md, which does not exist',
    ]);
  });
});
