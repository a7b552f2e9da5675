// Unit test of the handler: node --test (no wisp needed).
const test = require('node:test');
const assert = require('node:assert');
const { handler } = require('./index.js');

test('says hello', async () => {
  const context = { log: () => {} };
  assert.deepStrictEqual(await handler({ name: 'ada' }, context), { hello: 'ada' });
  assert.deepStrictEqual(await handler({}, context), { hello: 'world' });
});
