/**
 * Typed collections: the document type comes from the schema (any Standard Schema validator; zod here) or from
 * the type argument, and writes, reads, queries and filters are checked against it. The `@ts-expect-error`
 * lines are the checks: `npm run typecheck` (tsconfig.test.json, run by CI) fails when one of them compiles,
 * and `expectTypeOf` fails it when a type differs. The test then runs the same calls against a real server.
 */
import { afterAll, beforeAll, expect, expectTypeOf, test } from 'vitest';
import { z } from 'zod';
import { startPgliteServer, type TestServer } from '../../server/test/server-harness.js';
import { type Collection, createClient, type SynclineClient } from '../src/client.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { DocMeta, DocOf } from '../src/typed.js';

const TodoSchema = z.object({
  title: z.string(),
  done: z.boolean(),
  priority: z.number(),
  tags: z.array(z.string()).optional(),
});
type Todo = z.infer<typeof TodoSchema>;
interface Note {
  text: string;
  pinned?: boolean;
}

/** Compiled, never called: each line states what the compiler accepts or refuses. */
function typeChecks(client: SynclineClient) {
  const todos = client.collection('todos', { schema: TodoSchema });
  expectTypeOf(todos).toEqualTypeOf<Collection<Todo>>();
  void todos.insert({ title: 'a', done: false, priority: 1 });
  void todos.insert({ _id: 't1', title: 'a', done: false, priority: 1, tags: ['x'] });
  // @ts-expect-error a wrong field type
  void todos.insert({ title: 42, done: false, priority: 1 });
  // @ts-expect-error an unknown field
  void todos.insert({ title: 'a', done: false, priority: 1, colour: 'red' });
  // @ts-expect-error a required field missing
  void todos.insert({ title: 'a' });
  void todos.update('t1', { done: true });
  // @ts-expect-error a wrong type in a patch
  void todos.update('t1', { done: 'yes' });
  void todos.upsert({ _id: 't1', title: 'b', done: true, priority: 2 });
  // @ts-expect-error upsert needs the id
  void todos.upsert({ title: 'b', done: true, priority: 2 });

  void todos.find({ done: false, priority: { $gte: 2 }, tags: 'x', $or: [{ title: 'a' }, { title: { $in: ['b', 'c'] } }] });
  // @ts-expect-error an unknown operator
  void todos.find({ done: { $regex: 'x' } });
  // @ts-expect-error an unknown field in a filter
  void todos.find({ colour: 'red' });
  // @ts-expect-error an order operator on a boolean
  void todos.find({ done: { $gt: true } });
  // @ts-expect-error a value of the wrong type
  void todos.find({ priority: 'high' });
  // @ts-expect-error $in of the wrong type
  void todos.find({ title: { $in: [1, 2] } });

  void todos.query({ filter: { done: false }, sort: { priority: 'desc', title: 'asc', _id: 'asc' }, limit: 10 });
  // @ts-expect-error sorting by an unknown field
  void todos.query({ sort: { colour: 'asc' } });
  todos.live({ filter: { done: false }, limit: 5 }, (docs) => {
    expectTypeOf(docs).toEqualTypeOf<readonly DocOf<Todo>[]>();
    expectTypeOf(docs[0]?.title).toEqualTypeOf<string | undefined>();
  });
  todos.subscribe({ priority: { $lt: 3 } }, (docs) => expectTypeOf(docs).toEqualTypeOf<DocOf<Todo>[]>());
  expectTypeOf(todos.get('t1')).resolves.toEqualTypeOf<(Todo & DocMeta) | undefined>();
  // @ts-expect-error a scope on a field the schema does not have
  client.collection('todos', { schema: TodoSchema, where: { colour: 'red' } });

  const notes = client.collection<Note>('notes', { where: { pinned: true } });
  void notes.insert({ text: 'hi' });
  // @ts-expect-error the type argument's field types
  void notes.insert({ text: 1 });
  expectTypeOf(notes.find()).resolves.toEqualTypeOf<DocOf<Note>[]>();

  // Untyped: anything goes, as before.
  const loose = client.collection('anything');
  void loose.insert({ whatever: 1, nested: { a: [1] } });
  void loose.find({ any: { $gt: 1 }, 'nested.a': 1 });
}

let srv: TestServer;
beforeAll(async () => {
  srv = await startPgliteServer();
}, 120_000);
afterAll(() => srv?.close());

test('typed collections check at compile time and work the same at run time', async () => {
  expect(typeof typeChecks).toBe('function');
  const client = createClient({ url: srv.url, store: new MemoryStore(), socketOptions: { transports: ['websocket'] } });
  try {
    const todos = client.collection('todos', { schema: TodoSchema });
    await todos.insert({ _id: 't1', title: 'write tests', done: false, priority: 2 });
    await todos.insert({ _id: 't2', title: 'ship', done: false, priority: 1, tags: ['release'] });
    await todos.update('t1', { done: true });
    const open = await todos.find({ done: false });
    expect(open.map((t) => t.title)).toEqual(['ship']);
    const byPriority = await todos.query({ sort: { priority: 'asc' } });
    expect(byPriority.map((t) => t._id)).toEqual(['t2', 't1']);
    // The schema still validates at run time: what the types refuse, the schema refuses too.
    await expect(todos.insert({ title: 42 } as unknown as Todo)).rejects.toMatchObject({ name: 'ValidationError' });
  } finally {
    client.close();
  }
});
