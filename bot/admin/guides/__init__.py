"""The guide editor at /admin/guides: staff change what the assistant says and asks, preview it as
citizens will see it, and publish it to every running process without a restart.

Modules: ``routes`` (pages and /admin/api/guides), ``preview`` (the checklist as WeChat text and as
the mini-program card, from a draft). The data side lives in bot.guides: ``versions`` (drafts,
published versions, audit), ``editing`` (forms <-> YAML text), ``documents`` (checks and access),
``flowchart`` (the SVG picture).
"""
