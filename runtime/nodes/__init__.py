"""The built-in node types; importing this package registers them."""

from runtime.nodes import (  # noqa: F401  (each module registers its types on import)
    batching,  # join, batch
    core,
    exec,  # exec (refused unless the runtime allows it)
    files,  # file, file in, watch
    function,
    http,  # http in, http response, http request
    json_parser,  # json
    logic,  # change, switch, range, template
    modbus,  # modbus-client, -read, -getter, -flex-getter, -write, -flex-write
    mqtt,  # mqtt-broker, mqtt in, mqtt out
    onnx,  # plumb-onnx
    opcua,  # OpcUa-Endpoint, OpcUa-Item, OpcUa-Client
    parsers,  # csv, yaml, xml
    sequence,  # split, sort; delay, trigger, rbe through timing
)
