"""The flow benchmark: cases, checks that run flows in a real Node-RED against real protocol
servers, broken variants that prove the checks can fail, and the `ask eval` runner."""
