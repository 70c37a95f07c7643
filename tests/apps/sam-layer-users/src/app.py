from greeting.words import hello_to


def hello(event, context):
    return {"message": hello_to(event.get("name", "world"))}


def report(event, context):
    return {"report": hello_to("report")}


def audit(event, context):
    return {"audit": hello_to("audit")}
