"""The engine: the flow model, the running call's context, templates and the
interpreter. It sits below the step types and never names one."""
