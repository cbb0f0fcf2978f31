/**
 * The fake upstream's reader of multipart/form-data bodies (audio transcriptions): the text fields
 * as they are, each file as its name, size and SHA-256, so tests can check that what routecar
 * streamed through arrived intact.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { BodyResult } from './http-util.js';

/** Whether the request carries a multipart/form-data body. */
export function isMultipart(req: IncomingMessage): boolean {
  return /^multipart\/form-data\b/i.test(req.headers['content-type'] ?? '');
}

/**
 * Reads the whole form. `json` holds the fields, plus `file_name`, `file_bytes` and `file_sha256`
 * for the (last) file part, and `field_order`, the part names in the order they came.
 */
export async function readMultipart(req: IncomingMessage, limitBytes: number): Promise<BodyResult> {
  const { default: busboy } = await import('busboy');
  return new Promise((resolve) => {
    const fields: Record<string, unknown> = {};
    const order: string[] = [];
    let parser: ReturnType<typeof busboy>;
    try {
      parser = busboy({ headers: req.headers, limits: { fileSize: limitBytes } });
    } catch (err) {
      req.resume();
      resolve({ ok: false, status: 400, message: `bad multipart body: ${(err as Error).message}` });
      return;
    }
    parser.on('field', (name, value) => {
      order.push(name);
      fields[name] = value;
    });
    parser.on('file', (name, stream, info) => {
      order.push(name);
      const hash = createHash('sha256');
      let bytes = 0;
      stream.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      stream.on('close', () => {
        fields['file_name'] = info.filename;
        fields['file_bytes'] = bytes;
        fields['file_sha256'] = hash.digest('hex');
      });
    });
    parser.on('close', () => {
      fields['field_order'] = order;
      resolve({ ok: true, text: '', json: fields });
    });
    parser.on('error', (err: Error) => {
      req.resume();
      resolve({ ok: false, status: 400, message: `bad multipart body: ${err.message}` });
    });
    req.pipe(parser);
  });
}
