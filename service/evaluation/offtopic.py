"""Questions that no news or encyclopedia archive of ours should answer.

``briefing eval`` asks them of the evaluation corpus and reports the share abstained on;
the goal is every one. They are everyday requests far from any article's subject.
"""

OFF_TOPIC_QUESTIONS: tuple[str, ...] = (
    "How do I bake sourdough bread at home?",
    "What is the best way to remove a red wine stain from a carpet?",
    "Which smartphone has the best camera this year?",
    "How many calories are in a banana?",
    "What time does the pharmacy on Main Street open on Sunday?",
    "Can you recommend a good pasta recipe for dinner tonight?",
    "How do I reset my wifi router password?",
    "What should I wear to a job interview?",
    "How often should I water a cactus?",
    "What is a good name for a golden retriever puppy?",
    "How do I fix a leaking kitchen tap?",
    "Which yoga poses help with lower back pain?",
    "How long should I boil an egg for a runny yolk?",
    "What are the rules of pickleball?",
    "How do I convert a PDF file to Word?",
    "Where can I buy cheap concert tickets this weekend?",
    "How do I teach my cat to use a scratching post?",
    "What is the fastest way to learn to touch type?",
    "Is it better to rent or buy a car for a road trip?",
    "How do I make cold brew coffee?",
)
