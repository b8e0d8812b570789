"""The WeChat channels: the official account (公众号) endpoint and the mini-program sign-in.

wechatpy does every piece of WeChat protocol here (signatures, safe-mode AES, XML, client APIs);
these modules only decide what to do with a message.
"""
