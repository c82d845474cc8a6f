// Runs a TFJS graph model in Node with TensorFlow.js's WASM backend, the independent reference that
// check_teacher.py compares the torch loader with. Inputs are raw RGB uint8 HxWx3 files; for each one writes
// <input>.<output-name-with-/-as-_>.f32 (raw float32, the tensor's NHWC order).
// Usage: node tfjs_reference.js MODEL_JSON HEIGHT WIDTH INPUT.rgb... (NODE_PATH must reach @tensorflow/*)
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-converter');
require('@tensorflow/tfjs-backend-wasm');
const { loadGraphModel } = require('@tensorflow/tfjs-converter');

function memoryHandler(modelJson) {
  const spec = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const dir = path.dirname(modelJson);
  const specs = [];
  const buffers = [];
  for (const group of spec.weightsManifest) {
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
    specs.push(...group.weights);
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return {
    load: async () => ({
      modelTopology: spec.modelTopology, weightSpecs: specs, weightData, format: spec.format,
      generatedBy: spec.generatedBy, convertedBy: spec.convertedBy, signature: spec.signature,
    }),
  };
}

async function main() {
  const [modelJson, h, w, ...inputs] = process.argv.slice(2);
  if (!modelJson || !inputs.length) throw new Error('usage: tfjs_reference.js MODEL_JSON H W INPUT.rgb...');
  await tf.setBackend('wasm');
  await tf.ready();
  const model = await loadGraphModel(memoryHandler(modelJson));
  const outputs = Object.keys(model.modelSignature.outputs);
  const inputName = Object.keys(model.modelSignature.inputs)[0];
  for (const file of inputs) {
    const bytes = fs.readFileSync(file);
    const x = tf.tensor4d(Float32Array.from(bytes), [1, Number(h), Number(w), 3], 'float32');
    const res = model.execute({ [inputName]: x }, outputs);
    const list = Array.isArray(res) ? res : [res];
    for (let i = 0; i < outputs.length; ++i) {
      const data = await list[i].data();
      fs.writeFileSync(`${file}.${outputs[i].replace(/\//g, '_')}.f32`, Buffer.from(data.buffer));
      list[i].dispose();
    }
    x.dispose();
  }
  console.log(`tfjs ${tf.version_core} backend ${tf.getBackend()}: ${inputs.length} inputs, ` +
              `outputs ${outputs.join(', ')}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
