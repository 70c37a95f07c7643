import six


def handler(event, context):
    return {"six": six.__version__, "message": "hello"}
