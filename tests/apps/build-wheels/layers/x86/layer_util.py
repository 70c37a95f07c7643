from markupsafe import Markup


def bold(text):
    return Markup("<b>%s</b>") % text
