"""The emulator's web inbox: stacks and queues, messages (read without consuming them), the outbox, dead
letters with a redrive button, a test-mail form and the fault rules, served by the emulator process on
127.0.0.1 behind :mod:`mailflow_cli.local.guard` and a per-start token (:mod:`.session`)."""
