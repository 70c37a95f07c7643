"""Two handlers sharing one package: a change here goes to both functions."""

from greeting import greeting


def hello(event, context):
    return {"message": greeting("world")}


def greet(event, context):
    return {"message": greeting(event.get("name", "stranger"))}
