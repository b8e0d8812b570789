"""The staff desk (工作台) at /admin: sign-in, the department's complaint queue, ticket detail with
the lifecycle actions, and statistics. Server-rendered (jinja2, autoescaped), no JavaScript.

Modules: ``routes`` (pages and /admin/api/*, ``install(app)``), ``auth`` (server-side sessions,
CSRF), ``ratelimit`` (failed sign-ins), ``forms`` (urlencoded form bodies), ``queries`` (queue and
department scope), ``stats`` (the 有诉即办 rates as SQL aggregates), ``models`` (staff_sessions).
Kept free of imports here: bot.store.models imports ``bot.admin.models`` for Alembic.
"""
