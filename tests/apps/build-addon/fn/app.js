exports.handler = async () => ({ message: "an addon for the wrong machine" });
