import common


def handler(event, context):
    return {"message": common.greeting("hello-py")}
