import t from 'tap';
import { JsonSyntaxError, parseJson, positionOf } from '../../src/config/json.js';

t.test('parses what JSON.parse parses', (t) => {
  const docs = [
    '{}',
    '[]',
    '{"a": [1, -2.5, 3e2, 0, true, false, null], "b": {"c": "d"}}',
    '"\\u00e9\\n\\t\\"\\\\\\/"',
    '  {"unicode": "ünïcødé ☃"}  \n',
    '-0.5E-3',
  ];
  for (const d of docs) t.same(parseJson(d), JSON.parse(d), d);
  t.same(parseJson('\ufeff{"a": 1}'), { a: 1 }, 'a byte-order mark is skipped');
  t.end();
});

t.test('a key named __proto__ is an ordinary key', (t) => {
  const v = parseJson('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
  t.same(Object.keys(v), ['__proto__']);
  t.equal(Object.getPrototypeOf(v), Object.prototype);
  t.equal(({} as Record<string, unknown>).polluted, undefined);
  t.end();
});

t.test('errors carry line, column and the key path', (t) => {
  const cases: [string, number, number, string, RegExp][] = [
    ['{"a": }', 1, 7, 'a', /expected a value, found "}"/],
    ['{\n  "a": 1\n  "b": 2\n}', 3, 3, '', /expected ',' or '}' after the value of "a"/],
    ['{"a": [1, 2,]}', 1, 13, 'a', /trailing comma before '\]'/],
    ['{"a": 1,}', 1, 9, '', /trailing comma before '}'/],
    ['{"a": {"b": [1, {"c": tru}]}}', 1, 23, 'a.b[1].c', /expected a value/],
    ["{'a': 1}", 1, 2, '', /expected a key in double quotes/],
    ['{"a": \'x\'}', 1, 7, 'a', /strings must use double quotes/],
    ['{"a": "x\ny"}', 1, 9, 'a', /control character/],
    ['{"a": "\\q"}', 1, 8, 'a', /invalid escape \\q/],
    ['{"a": 01}', 1, 8, '', /expected ',' or '}'/],
    ['{"a": 1} x', 1, 10, '', /after the end of the document/],
    ['{"a": "open', 1, 7, 'a', /unterminated string/],
    ['{"a": 1, "a": 2}', 1, 10, '', /duplicate key "a"/],
    ['', 1, 1, '', /expected a value, found end of file/],
    ['{"a": 1', 1, 8, '', /found end of file/],
  ];
  for (const [text, line, column, keyPath, detail] of cases) {
    try {
      parseJson(text);
      t.fail(`accepted ${JSON.stringify(text)}`);
    } catch (err) {
      t.type(err, JsonSyntaxError);
      const e = err as JsonSyntaxError;
      t.same({ line: e.line, column: e.column, keyPath: e.keyPath }, { line, column, keyPath }, JSON.stringify(text));
      t.match(e.detail, detail);
    }
  }
  t.end();
});

t.test('deep nesting is an error, not a stack overflow', (t) => {
  t.throws(() => parseJson('['.repeat(100_000)), /nested deeper than 64 levels/);
  t.end();
});

t.test('positionOf', (t) => {
  t.same(positionOf('ab\ncd\n', 4), { line: 2, column: 2 });
  t.same(positionOf('x', 0), { line: 1, column: 1 });
  t.end();
});
