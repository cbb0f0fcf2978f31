/**
 * The fake upstreams' seedable random source, so a `failureRate` and jitter can be replayed
 * exactly in a test or a demo run: the same mulberry32 the router uses for repeatable figures.
 */
export { seededRandom } from '../routing/seeded-random.js';
