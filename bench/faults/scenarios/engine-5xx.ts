import { witnessEngineScenario } from './witness-engine.js';

export const engine5xx = witnessEngineScenario('engine-5xx', 'http500', 'engine', "the engine answers whisper-server's HTTP 500, then answers properly again");
