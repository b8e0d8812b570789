"""Proactive messages to WeChat users (complaint answers, 惠企政策 notices), sent by the worker.

models.py   the push log: one row per message that may ever be sent, its key unique
ratelimit.py  one send rate shared by every worker process (Redis)
quiet.py    quiet hours: no proactive message at night
sender.py   claim, rate-limit, send through wechatpy, record: at most once per key
answers.py  complaint answers: 客服消息 inside the 48-hour window, else a template/subscribe message
jobs.py     the arq jobs and the sweep that enqueues what is still due
"""
