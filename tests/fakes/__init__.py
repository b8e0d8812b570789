"""Test doubles for WeChat: a fake of WeChat's server API and a simulator of WeChat's message pushes.

Both speak real HTTP on loopback and use wechatpy for every piece of the protocol, so the code under
test is exercised through the same sockets, signatures and ciphers as in production.
"""

from tests.fakes.serve import ServedApp
from tests.fakes.wechat_api import FakeWeChatAPI
from tests.fakes.wechat_sim import DeliveryResult, MalformedReply, Try, WeChatSimulator

__all__ = ["DeliveryResult", "FakeWeChatAPI", "MalformedReply", "ServedApp", "Try", "WeChatSimulator"]
