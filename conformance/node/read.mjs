// The official openai Node SDK reads recorded answers: what a Node user's code would see.
//
// stdin: one batch per line, {"answers": [{"id", "kind", "params", "response_id", "status", "headers", "body"}]},
//          kind being "parse" | "stream" | "retrieve" | "input_items" | "input_tokens", and a stream's body
//          its event stream as text.
// stdout: one line per batch, [{"id", "sent", "step", "error"}]: `sent` is false when the SDK refused
// the call before asking for the answer; `error` is what it raised ("Name: message") at `step`, or null.
// Every request is answered by a fetch that returns the recorded answer: no socket is opened.
// Batches are read as they come, so one process can serve a run's cells as each one ends.
import { createInterface } from 'node:readline';
import OpenAI from 'openai';

const BASE_URL = 'http://recorded.invalid/v1';
const NO_FINAL = new Set(['response.failed', 'response.incomplete']);
const TOUCHED = ['output_text', 'output', 'usage', 'id'];

// What users read off a Response. output_text is the SDK's own: it adds it only to a Response whose `object`
// is 'response', so on any other a user reads undefined where the answer's text should be.
function touch(response, prefix, at) {
  for (const name of TOUCHED) {
    at.step = `${prefix}.${name}`;
    const value = response[name];
    if (name === 'output_text' && typeof value !== 'string') {
      throw new TypeError(`${prefix}.output_text is ${String(value)}, not the answer's text`);
    }
  }
}

async function read(answer, at, client) {
  if (answer.kind === 'input_items') {
    // the first page only: every request gets the one recorded answer, so its pages would never end
    at.step = `client.responses.inputItems.list(${JSON.stringify(answer.response_id)})`;
    const page = await client.responses.inputItems.list(answer.response_id);
    at.step = 'page.data';
    page.data.forEach((item, index) => {
      for (const name of ['type', 'id']) {
        at.step = `page.data[${index}].${name}`;
        void item[name];
      }
    });
    at.step = 'page.hasNextPage()';
    page.hasNextPage();
  } else if (answer.kind === 'input_tokens') {
    // a token count is no Response: what users read off it is the count
    at.step = 'await client.responses.inputTokens.count(...)';
    const count = await client.responses.inputTokens.count(answer.params);
    for (const name of ['input_tokens', 'object']) {
      at.step = `count.${name}`;
      void count[name];
    }
  } else if (answer.kind === 'retrieve') {
    at.step = `client.responses.retrieve(${JSON.stringify(answer.response_id)})`;
    touch(await client.responses.retrieve(answer.response_id), 'response', at);
  } else if (answer.kind === 'stream') {
    at.step = 'client.responses.stream(...)';
    const stream = client.responses.stream(answer.params);
    let count = 0;
    let last = null;
    at.step = 'iterating the stream (after 0 SDK events)';
    for await (const event of stream) {
      count += 1;
      last = event.type;
      at.step = `iterating the stream (after ${count} SDK events)`;
    }
    if (NO_FINAL.has(last)) return;
    at.step = 'await stream.finalResponse()';
    touch(await stream.finalResponse(), 'final response', at);
  } else {
    at.step = 'await client.responses.create(...)';
    touch(await client.responses.create(answer.params), 'response', at);
  }
}

// One client serves every answer, one at a time: its fetch answers with the answer being read.
const serving = { answer: null, at: null };
const client = new OpenAI({
  apiKey: 'recorded',
  baseURL: BASE_URL,
  maxRetries: 0,
  fetch: async () => {
    serving.at.sent = true;
    const { body, status, headers } = serving.answer;
    return new Response(body, { status, headers });
  },
});

async function readAll(answers) {
  const results = [];
  for (const answer of answers) {
    const at = { step: 'calling the SDK', sent: false };
    serving.answer = answer;
    serving.at = at;
    try {
      await read(answer, at, client);
      results.push({ id: answer.id, sent: at.sent, step: null, error: null });
    } catch (err) {
      const name = err && err.constructor ? err.constructor.name : typeof err;
      const message = err && err.message !== undefined ? err.message : String(err);
      results.push({ id: answer.id, sent: at.sent, step: at.step, error: `${name}: ${message}` });
    }
  }
  return results;
}

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim() === '') continue;
  const { answers } = JSON.parse(line);
  process.stdout.write(JSON.stringify(await readAll(answers)) + '\n');
}
