import { witnessEngineScenario } from './witness-engine.js';

export const engineGarbage = witnessEngineScenario('engine-garbage', 'garbage', 'engine', 'the engine answers 200 with a body that is not JSON, then answers properly again');
