"""The chat robots that carry alerts and pushes: Feishu, DingTalk, WeCom and a generic
JSON webhook; each signs as its vendor documents and keeps to its rate limit."""
