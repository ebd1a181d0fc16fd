// The chat view's page: draws what the extension posts, sends what the user types.
// Plain browser JavaScript, run inside VS Code's webview.
(function () {
  'use strict';
  const vscode = acquireVsCodeApi();
  const log = document.getElementById('log');
  const form = document.getElementById('form');
  const input = document.getElementById('input');
  const send = document.getElementById('send');
  const cancel = document.getElementById('cancel');
  const useFlow = document.getElementById('useFlow');
  let current = null; // the answer being streamed: { box, status, code }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function scroll() {
    log.scrollTop = log.scrollHeight;
  }

  function pending() {
    if (!current) {
      const box = element('div', 'message assistant');
      const status = element('div', 'status', 'sending…');
      const code = element('pre', 'code');
      code.hidden = true;
      box.append(status, code);
      log.append(box);
      current = { box: box, status: status, code: code };
    }
    return current;
  }

  function list(title, items) {
    if (!items || items.length === 0) {
      return null;
    }
    const wrap = element('div', 'list');
    wrap.append(element('div', 'list-title', title));
    const ul = element('ul');
    for (const item of items) {
      ul.append(element('li', '', item));
    }
    wrap.append(ul);
    return wrap;
  }

  function button(label, onClick, secondary) {
    const node = element('button', secondary ? 'secondary' : '', label);
    node.type = 'button';
    node.addEventListener('click', onClick);
    return node;
  }

  function answer(index, outcome) {
    const box = pending().box;
    current.status.remove();
    box.classList.add(outcome.outcome);
    const parts = [
      list('Changes', outcome.changes),
      element('pre', 'text', outcome.message),
      list('Choices', outcome.choices),
      list('Notes', outcome.notes),
    ];
    const findings = (outcome.findings || []).map(function (f) {
      return f.severity + ' [' + f.code + '] ' + (f.node_id ? f.node_id + ': ' : '') + f.message;
    });
    parts.push(list('Validation findings', findings));
    for (const part of parts) {
      if (part) {
        box.append(part);
      }
    }
    if (outcome.flow) {
      const actions = element('div', 'actions');
      actions.append(
        button('Open flow', function () { vscode.postMessage({ type: 'openFlow', index: index }); }),
        button('Apply to active file…', function () { vscode.postMessage({ type: 'applyFlow', index: index }); }, true),
      );
      box.append(actions);
    }
    current = null;
  }

  function error(message) {
    const box = current ? current.box : element('div', 'message assistant');
    if (current) {
      current.status.remove();
    } else {
      log.append(box);
    }
    box.classList.add('error');
    box.append(element('div', 'error-text', message.message));
    if (message.action === 'start-help') {
      box.append(button('How to start the server', function () { vscode.postMessage({ type: 'action', action: 'start-help' }); }));
    } else if (message.action === 'set-token') {
      box.append(button('Set token', function () { vscode.postMessage({ type: 'action', action: 'set-token' }); }));
    }
    current = null;
  }

  window.addEventListener('message', function (event) {
    const message = event.data;
    switch (message.type) {
      case 'user':
        log.append(element('div', 'message user', message.text));
        break;
      case 'status':
        pending().status.textContent = message.text + '…';
        break;
      case 'token': {
        const code = pending().code;
        code.hidden = false;
        code.textContent += message.text;
        break;
      }
      case 'answer':
        answer(message.index, message.outcome);
        break;
      case 'error':
        error(message);
        break;
      case 'busy':
        send.disabled = message.busy;
        cancel.hidden = !message.busy;
        useFlow.disabled = message.busy;
        break;
      case 'reset':
        log.textContent = '';
        current = null;
        if (message.note) {
          log.append(element('div', 'note', message.note));
        }
        break;
    }
    scroll();
  });

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    const text = input.value.trim();
    if (text && !send.disabled) {
      vscode.postMessage({ type: 'send', text: text });
      input.value = '';
    }
  });
  input.addEventListener('keydown', function (event) {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  cancel.addEventListener('click', function () { vscode.postMessage({ type: 'cancel' }); });
  useFlow.addEventListener('click', function () { vscode.postMessage({ type: 'useActiveFlow' }); });
  vscode.postMessage({ type: 'ready' });
}());
