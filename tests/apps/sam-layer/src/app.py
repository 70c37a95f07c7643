from greeting.words import hello_to


def hello(event, context):
    return {"message": hello_to(event.get("name", "world"))}
