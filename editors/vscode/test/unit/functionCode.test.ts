import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { functionDocumentAddress, functionRequest, parseFunctionQuery, pickFunctionCode } from '../../src/functionCode';

describe('function code documents', () => {
  it('round-trips the target through the address', () => {
    const target = { flowUri: 'file:///work/flows%20x.json', nodeId: 'n&1=2', property: 'func' };
    const address = functionDocumentAddress(target, 'to °F / round');
    assert.equal(address.path, '/to_F_round.js');
    assert.deepEqual(parseFunctionQuery(address.query), target);
    assert.equal(functionDocumentAddress({ ...target, property: 'initialize' }).path, '/n_1_2.initialize.js');
    assert.equal(parseFunctionQuery('node=a'), undefined);
  });

  it('asks for a flow whose function node does the work', () => {
    assert.equal(functionRequest(' convert C to F. '),
      'when a message arrives on MQTT topic plumb/in, use a function node to: convert C to F, then send it to debug');
  });

  it('takes the first function node\'s code from an outcome', () => {
    const flow = [{ id: 't', type: 'tab' }, { id: 'f', type: 'function', func: 'return msg;' }, { id: 'g', type: 'function', func: 'x' }];
    assert.equal(pickFunctionCode({ outcome: 'flow', message: '', flow }), 'return msg;');
    assert.equal(pickFunctionCode({ outcome: 'flow', message: '', flow: [{ id: 't', type: 'tab' }] }), undefined);
    assert.equal(pickFunctionCode({ outcome: 'clarify', message: 'which?' }), undefined);
  });
});
