/**
 * Models: the zoo (LeNet-300-100, LeNet-5-Caffe, MLP, small CNN), TF.js Layers model files on disk (load/save,
 * byte-compatible with TF.js and tensorflowjs_converter), recovering logits from models that end in a softmax, and
 * per-layer summaries.
 */
export * from './zoo.js';
export * from './model-json.js';
export * from './file-io.js';
export * from './logits.js';
export * from './summary.js';
