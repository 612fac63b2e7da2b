"""The spoken requests of the evaluation: every intent, carrier phrases and products the training phrases of
local_agent/agent.json do not contain word for word, with the parameters a right answer carries (product values
as the catalog names them: "perfume" is searched as "fragrances")."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    text: str
    intent: str
    parameters: dict[str, str | int] = field(default_factory=dict)


def _search(text: str, query: str, max_price: int | None = None) -> Request:
    params: dict[str, str | int] = {"query": query}
    if max_price is not None:
        params["max_price"] = max_price
    return Request(text, "search_products", params)


def _details(text: str, product_id: int) -> Request:
    return Request(text, "product_details", {"product_id": product_id})


REQUESTS: tuple[Request, ...] = (
    # search without a price
    _search("do you have any sunglasses", "sunglasses"),
    _search("i need some perfume", "fragrances"),
    _search("can you show me handbags", "womens-bags"),
    _search("i am looking for a sofa", "furniture"),
    _search("show me phones", "smartphones"),
    _search("do you sell lipstick", "lipstick"),
    _search("i would like to buy a laptop", "laptops"),
    _search("find me some running shoes", "running shoes"),
    _search("have you got any watches", "watches"),
    _search("i want a new tablet", "tablets"),
    _search("do you carry skin care", "skin-care"),
    _search("let me see some dresses", "womens-dresses"),
    _search("search for a basketball", "basketball"),
    _search("show me some groceries", "groceries"),
    _search("do you stock motorcycles", "motorcycle"),
    _search("i need headphones", "headphones"),
    # search with a price
    _search("show me laptops under two thousand dollars", "laptops", 2000),
    _search("i need perfume under one hundred dollars", "fragrances", 100),
    _search("find sunglasses cheaper than thirty dollars", "sunglasses", 30),
    _search("any phones below five hundred dollars", "smartphones", 500),
    _search("i want running shoes for less than eighty dollars", "running shoes", 80),
    _search("do you have handbags under sixty dollars", "womens-bags", 60),
    _search("show me sofas under one thousand dollars", "furniture", 1000),
    _search("find me a watch under two hundred dollars", "watch", 200),
    _search("lipstick under twenty dollars", "lipstick", 20),
    _search("tablets for at most three hundred dollars", "tablets", 300),
    _search("i am looking for dresses under fifty dollars", "womens-dresses", 50),
    _search("show me skin care under fifteen dollars", "skin-care", 15),
    _search("can i get headphones under forty dollars", "headphones", 40),
    _search("groceries under ten dollars please", "groceries", 10),
    _search("i would like a laptop for no more than one thousand five hundred dollars", "laptops", 1500),
    _search("find motorcycles under five thousand dollars", "motorcycle", 5000),
    # product details by number
    _details("tell me about product seven", 7),
    _details("what is product twelve", 12),
    _details("how much is product three", 3),
    _details("give me the details of product forty two", 42),
    _details("how much does product nineteen cost", 19),
    _details("tell me more about item five", 5),
    _details("what can you tell me about product eighty", 80),
    _details("describe product sixty one", 61),
    _details("product number nine please", 9),
    _details("show me product one hundred", 100),
    _details("i want to know about product twenty three", 23),
    _details("what does product fifteen cost", 15),
    # greeting
    Request("hello there", "greeting"),
    Request("hi", "greeting"),
    Request("good morning to you", "greeting"),
    Request("hey there", "greeting"),
    Request("what can you help me with", "greeting"),
    Request("can you help me", "greeting"),
    Request("good afternoon", "greeting"),
    # goodbye
    Request("thanks goodbye", "goodbye"),
    Request("bye for now", "goodbye"),
    Request("that is all thank you", "goodbye"),
    Request("see you later", "goodbye"),
    Request("thank you very much bye", "goodbye"),
    Request("goodbye and thanks", "goodbye"),
    Request("okay bye", "goodbye"),
    # out of domain
    Request("what is the weather like tomorrow", "fallback"),
    Request("tell me a joke", "fallback"),
    Request("play my favourite song", "fallback"),
    Request("what time is it in london", "fallback"),
    Request("call a taxi for me", "fallback"),
    Request("set a timer for ten minutes", "fallback"),
    Request("who is the president of france", "fallback"),
    Request("how far away is the moon", "fallback"),
)
