/**
 * A scriptable classifier service: POST {"text"} -> {"label", "score"}. Per text, it labels by the
 * first matching keyword, hangs (never answers), answers garbage, or fails with a 500.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type ClassifierMode = 'label' | 'hang' | 'garbage' | 'error';

export interface FakeClassifier {
  /** `http://127.0.0.1:<port>/classify`. */
  readonly url: string;
  /** Texts received, in order. */
  readonly texts: string[];
  /** TCP connections accepted so far. */
  connections(): number;
  mode: ClassifierMode;
  close(): Promise<void>;
}

/** Starts the fake; `labels` maps a keyword found in the text to `[label, score]`, else `other`. */
export async function startFakeClassifier(
  labels: Record<string, readonly [string, number]>,
  mode: ClassifierMode = 'label',
): Promise<FakeClassifier> {
  const texts: string[] = [];
  let connections = 0;
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text: string }).text;
      texts.push(text);
      switch (fake.mode) {
        case 'hang':
          hanging.add(res);
          return;
        case 'garbage':
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end('{"label": 42, "confidence": "high"');
          return;
        case 'error':
          res.writeHead(500).end('boom');
          return;
        case 'label': {
          const hit = Object.entries(labels).find(([keyword]) => text.toLowerCase().includes(keyword));
          const [label, score] = hit?.[1] ?? ['other', 0.5];
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ label, score }));
        }
      }
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: FakeClassifier = {
    url: `http://127.0.0.1:${port}/classify`,
    texts,
    connections: () => connections,
    mode,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
