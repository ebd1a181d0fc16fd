// Loaded into Node-RED with `node --require` when Plumb runs it for tests and evals: every
// outgoing TCP connection and UDP datagram to an address outside loopback is refused before
// any DNS lookup or packet, so a flow naming a plant address (a PLC at 192.168.1.10, a broker
// "mqtt.plant.local", msg.url set at run time) can never reach beyond this machine.
"use strict";
const net = require("net");
const dgram = require("dgram");

function loopback(host) {
  if (host === undefined || host === null || host === "") return true; // defaults to localhost
  const text = String(host).toLowerCase();
  return text === "localhost" || text.startsWith("127.") || text === "::1" ||
    text === "::ffff:127.0.0.1" || text.endsWith(".localhost");
}

function refused(host) {
  const error = new Error(`Plumb sandbox: connection to ${host} refused (loopback only)`);
  error.code = "ECONNREFUSED";
  return error;
}

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  let options = args[0];
  if (Array.isArray(options)) options = options[0]; // Node's pre-normalised form
  let host;
  if (options !== null && typeof options === "object") {
    if (options.path) return connect.apply(this, args); // unix socket
    host = options.host;
  } else if (typeof options === "number" || /^\d+$/.test(String(options))) {
    host = typeof args[1] === "string" ? args[1] : undefined;
  } else {
    return connect.apply(this, args); // a unix socket path
  }
  if (!loopback(host)) {
    process.nextTick(() => this.destroy(refused(host)));
    return this;
  }
  return connect.apply(this, args);
};

const send = dgram.Socket.prototype.send;
dgram.Socket.prototype.send = function (...args) {
  const address = args.find((a, i) => i > 0 && typeof a === "string");
  if (address !== undefined && !loopback(address)) {
    const callback = args.find((a) => typeof a === "function");
    const error = refused(address);
    if (callback) process.nextTick(() => callback(error));
    return;
  }
  return send.apply(this, args);
};
