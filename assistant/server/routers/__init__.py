"""One router per resource of the assistant: generate/edit, explain/validate, docs,
sessions, models and status; the OpenAI-compatible routes live in openai.py."""
