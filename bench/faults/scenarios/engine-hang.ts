import { witnessEngineScenario } from './witness-engine.js';

export const engineHang = witnessEngineScenario('engine-hang', 'hang', 'timeout', 'the engine never answers an inference (request timeout, breaker opens), then answers again');
