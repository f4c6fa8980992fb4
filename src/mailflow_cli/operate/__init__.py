"""Day-two commands: the logic behind verify-domain, send-test, tail, status, logs, dlq and init.

Each module holds one command's logic and takes its AWS clients, clock and output sinks as arguments;
``mailflow_cli.commands.operate`` only parses options and wires them together.
"""
