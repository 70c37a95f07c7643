from greeting import greeting


def f1(event, context):
    return greeting("f1")


f2 = f3 = f4 = f5 = f6 = f7 = f8 = f1
