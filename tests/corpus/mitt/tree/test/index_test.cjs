// Port of mitt's test/index_test.ts (mocha + chai + sinon, which cannot be
// installed offline) to node:test + node:assert, case for case, for the
// Orchestra corpus; see ../../SOURCE.md. It tests the tsc-built dist/.
const { describe, it, beforeEach, mock } = require('node:test');
const assert = require('node:assert/strict');
const mitt = require('../dist/index.js').default;

const spy = () => mock.fn(() => {});
const calledOnceWith = (f, ...args) => {
	assert.equal(f.mock.calls.length, 1);
	assert.deepEqual(f.mock.calls[0].arguments, args);
};

describe('mitt', () => {
	it('should default export be a function', () => {
		assert.equal(typeof mitt, 'function');
	});

	it('should accept an optional event handler map', () => {
		assert.doesNotThrow(() => mitt(new Map()));
		const map = new Map();
		const a = spy();
		const b = spy();
		map.set('foo', [a, b]);
		const events = mitt(map);
		events.emit('foo');
		assert.equal(a.mock.calls.length, 1);
		assert.equal(b.mock.calls.length, 1);
	});
});

describe('mitt#', () => {
	const eventType = Symbol('eventType');
	let events, inst;

	beforeEach(() => {
		events = new Map();
		inst = mitt(events);
	});

	describe('properties', () => {
		it('should expose the event handler map', () => {
			assert.ok(inst.all instanceof Map);
		});
	});

	describe('on()', () => {
		it('should be a function', () => {
			assert.equal(typeof inst.on, 'function');
		});

		it('should register handler for new type', () => {
			const foo = () => {};
			inst.on('foo', foo);
			assert.deepEqual(events.get('foo'), [foo]);
		});

		it('should register handlers for any type strings', () => {
			const foo = () => {};
			inst.on('constructor', foo);
			assert.deepEqual(events.get('constructor'), [foo]);
		});

		it('should append handler for existing type', () => {
			const foo = () => {};
			const bar = () => {};
			inst.on('foo', foo);
			inst.on('foo', bar);
			assert.deepEqual(events.get('foo'), [foo, bar]);
		});

		it('should NOT normalize case', () => {
			const foo = () => {};
			inst.on('FOO', foo);
			inst.on('Bar', foo);
			inst.on('baz:baT!', foo);
			assert.deepEqual(events.get('FOO'), [foo]);
			assert.equal(events.has('foo'), false);
			assert.deepEqual(events.get('Bar'), [foo]);
			assert.equal(events.has('bar'), false);
			assert.deepEqual(events.get('baz:baT!'), [foo]);
		});

		it('can take symbols for event types', () => {
			const foo = () => {};
			inst.on(eventType, foo);
			assert.deepEqual(events.get(eventType), [foo]);
		});

		it('should add duplicate listeners', () => {
			const foo = () => {};
			inst.on('foo', foo);
			inst.on('foo', foo);
			assert.deepEqual(events.get('foo'), [foo, foo]);
		});
	});

	describe('off()', () => {
		it('should be a function', () => {
			assert.equal(typeof inst.off, 'function');
		});

		it('should remove handler for type', () => {
			const foo = () => {};
			inst.on('foo', foo);
			inst.off('foo', foo);
			assert.equal(events.get('foo').length, 0);
		});

		it('should NOT normalize case', () => {
			const foo = () => {};
			inst.on('FOO', foo);
			inst.on('Bar', foo);
			inst.on('baz:bat!', foo);
			inst.off('FOO', foo);
			inst.off('Bar', foo);
			inst.off('baz:baT!', foo);
			assert.equal(events.get('FOO').length, 0);
			assert.equal(events.has('foo'), false);
			assert.equal(events.get('Bar').length, 0);
			assert.equal(events.has('bar'), false);
			assert.equal(events.get('baz:bat!').length, 1);
		});

		it('should remove only the first matching listener', () => {
			const foo = () => {};
			inst.on('foo', foo);
			inst.on('foo', foo);
			inst.off('foo', foo);
			assert.deepEqual(events.get('foo'), [foo]);
			inst.off('foo', foo);
			assert.deepEqual(events.get('foo'), []);
		});

		it('off("type") should remove all handlers of the given type', () => {
			inst.on('foo', () => {});
			inst.on('foo', () => {});
			inst.on('bar', () => {});
			inst.off('foo');
			assert.deepEqual(events.get('foo'), []);
			assert.equal(events.get('bar').length, 1);
			inst.off('bar');
			assert.deepEqual(events.get('bar'), []);
		});
	});

	describe('emit()', () => {
		it('should be a function', () => {
			assert.equal(typeof inst.emit, 'function');
		});

		it('should invoke handler for type', () => {
			const event = { a: 'b' };
			const handler = mock.fn((one, two) => {
				assert.deepEqual(one, event);
				assert.equal(two, undefined);
			});
			inst.on('foo', handler);
			inst.emit('foo', event);
			assert.equal(handler.mock.calls.length, 1);
		});

		it('should NOT ignore case', () => {
			const onFoo = spy(),
				onFOO = spy();
			events.set('Foo', [onFoo]);
			events.set('FOO', [onFOO]);
			inst.emit('Foo', 'Foo arg');
			inst.emit('FOO', 'FOO arg');
			calledOnceWith(onFoo, 'Foo arg');
			calledOnceWith(onFOO, 'FOO arg');
		});

		it('should invoke * handlers', () => {
			const star = spy(),
				ea = { a: 'a' },
				eb = { b: 'b' };
			events.set('*', [star]);
			inst.emit('foo', ea);
			calledOnceWith(star, 'foo', ea);
			star.mock.resetCalls();
			inst.emit('bar', eb);
			calledOnceWith(star, 'bar', eb);
		});
	});
});
