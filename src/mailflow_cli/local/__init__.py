"""The local emulator: a moto server plus SMTP ingress, receipt rules that fire and a Lambda runner."""
