"""Hand-made, hand-labelled text for bench/text_semantics.py. The labels were written
before any of our models saw the texts.

PAIRS: 40 subtitle-like lines, each in English and in Chinese (translated by hand).
PARAPHRASES: for 20 of them, an English rewording with different words (index into PAIRS).
KEYWORD_SET: paragraphs with the terms a person would tag them with (any 5 of the list
count as hits; a returned keyword hits when it equals a label or contains one).
MODERATION_SET: texts with the categories a moderator would flag (spam, violence) or none;
none of them is one of the policy files' own examples.
"""
from __future__ import annotations

PAIRS: list[tuple[str, str]] = [
    ("Where did you put the car keys?", "你把车钥匙放哪儿了？"),
    ("The train to Shanghai leaves at seven.", "去上海的火车七点出发。"),
    ("I haven't eaten anything since this morning.", "我从早上到现在什么都没吃。"),
    ("Please turn off your phones during the show.", "演出期间请关闭手机。"),
    ("My grandmother grew up in a small fishing village.", "我奶奶在一个小渔村长大。"),
    ("The doctor said I need to rest for a week.", "医生说我需要休息一个星期。"),
    ("We missed the last bus and had to walk home.", "我们错过了末班车，只好走回家。"),
    ("It's going to snow heavily tonight.", "今晚会下大雪。"),
    ("He has been learning the piano for ten years.", "他学钢琴已经十年了。"),
    ("The meeting has been moved to Friday afternoon.", "会议改到周五下午了。"),
    ("Can you help me carry these boxes upstairs?", "你能帮我把这些箱子搬上楼吗？"),
    ("The museum is closed on Mondays.", "博物馆周一闭馆。"),
    ("She won the gold medal in swimming.", "她获得了游泳金牌。"),
    ("Don't forget to water the plants.", "别忘了给植物浇水。"),
    ("The price of vegetables went up again.", "菜价又涨了。"),
    ("Our flight was delayed by three hours.", "我们的航班延误了三个小时。"),
    ("I lost my wallet on the subway.", "我在地铁上丢了钱包。"),
    ("The children are playing football in the park.", "孩子们在公园里踢足球。"),
    ("This restaurant serves the best dumplings in town.", "这家餐馆的饺子是城里最好吃的。"),
    ("The earthquake destroyed hundreds of houses.", "地震摧毁了数百所房屋。"),
    ("Scientists discovered a new species of frog.", "科学家发现了一种新的青蛙。"),
    ("Remember to back up your files every day.", "记得每天备份你的文件。"),
    ("The bridge will be closed for repairs next month.", "这座桥下个月将封闭维修。"),
    ("My brother is afraid of dogs.", "我弟弟怕狗。"),
    ("The company plans to hire two hundred engineers.", "公司计划招聘两百名工程师。"),
    ("We watched the sunrise from the top of the mountain.", "我们在山顶看了日出。"),
    ("Please speak more slowly, I can't understand you.", "请说慢一点，我听不懂。"),
    ("The library stays open until midnight during exams.", "考试期间图书馆开到午夜。"),
    ("The battery of my phone is almost dead.", "我的手机快没电了。"),
    ("They got married on a beach in the spring.", "他们春天在海边结婚了。"),
    ("The river flooded after a week of rain.", "下了一个星期的雨，河水泛滥了。"),
    ("I'd like a cup of coffee without sugar.", "我想要一杯不加糖的咖啡。"),
    ("The police arrested two suspects last night.", "警方昨晚逮捕了两名嫌疑人。"),
    ("Our team lost the final by one point.", "我们队在决赛中以一分之差输了。"),
    ("The new hospital will open next year.", "新医院将于明年开业。"),
    ("He forgot his umbrella and got soaked.", "他忘了带伞，被淋透了。"),
    ("The cat knocked the glass off the table.", "猫把杯子从桌子上碰掉了。"),
    ("Tickets for the concert sold out in five minutes.", "音乐会的票五分钟就卖光了。"),
    ("She is writing a book about ancient Rome.", "她正在写一本关于古罗马的书。"),
    ("Turn left at the second traffic light.", "在第二个红绿灯左转。"),
]

PARAPHRASES: list[tuple[str, int]] = [
    ("Have you seen where my car key went?", 0),
    ("There's a seven o'clock train heading to Shanghai.", 1),
    ("Mobile phones must be switched off while the performance is on.", 3),
    ("According to the physician, a week of rest is what I need.", 5),
    ("Heavy snowfall is expected this evening.", 7),
    ("On Mondays the museum does not open its doors.", 11),
    ("Vegetables became more expensive once more.", 14),
    ("A three-hour delay hit our plane.", 15),
    ("I dropped my purse somewhere on the metro.", 16),
    ("Kids are kicking a ball around in the park.", 17),
    ("Hundreds of homes were flattened by the quake.", 19),
    ("Researchers found a frog species nobody knew about.", 20),
    ("Save a copy of your documents daily.", 21),
    ("Two hundred engineering jobs will be created by the firm.", 24),
    ("My phone is running out of charge.", 28),
    ("After seven days of rainfall the river burst its banks.", 30),
    ("Officers detained two people suspected of the crime yesterday evening.", 32),
    ("We were beaten in the championship game by a single point.", 33),
    ("The concert was fully booked within minutes.", 37),
    ("At the second set of lights, go left.", 39),
]

KEYWORD_SET: list[dict[str, object]] = [
    {"language": "zh", "text": (
        "嫦娥六号探测器在月球背面成功着陆，将采集月球样品并带回地球。这是人类首次从月球背面采样"
        "返回。国家航天局表示，任务各项工作进展顺利，探测器状态良好。"),
     "user_dictionary": ["嫦娥六号"],
     "labels": ["嫦娥六号", "月球", "背面", "采样", "样品", "探测器", "国家航天局", "着陆"]},
    {"language": "zh", "text": (
        "今年春运期间，全国铁路预计发送旅客四亿八千万人次。铁路部门增开夜间高铁列车，"
        "并在大型车站延长售票时间。旅客可以通过手机购买火车票，也可以在车站自助取票。"),
     "user_dictionary": [],
     "labels": ["春运", "铁路", "旅客", "高铁", "列车", "火车票", "车站", "售票", "购买"]},
    {"language": "zh", "text": (
        "研究人员发现，每天步行三十分钟可以明显降低患心脏病的风险。这项研究跟踪了两万名"
        "中老年人十年的健康数据。专家建议，中老年人应保持规律运动和均衡饮食。"),
     "user_dictionary": [],
     "labels": ["步行", "心脏病", "风险", "研究", "中老年人", "健康", "运动", "饮食"]},
    {"language": "en", "text": (
        "To make a classic French omelette, whisk three eggs with a pinch of salt until smooth. "
        "Melt butter in a nonstick pan over medium heat. Pour in the eggs and stir gently "
        "with a spatula while shaking the pan, so the curds stay small and soft. When the "
        "omelette is barely set, roll it onto a warm plate."),
     "user_dictionary": [],
     "labels": ["omelette", "eggs", "butter", "pan", "spatula", "curds", "salt", "french"]},
    {"language": "en", "text": (
        "The city council approved a plan to add forty kilometres of protected bike lanes "
        "over the next three years. Cycling groups welcomed the vote, while some shop owners "
        "worried about losing parking spaces. The council says the bike lanes will reduce "
        "traffic congestion and air pollution."),
     "user_dictionary": [],
     "labels": ["bike lanes", "city council", "cycling", "parking", "traffic",
                "congestion", "pollution", "plan", "vote"]},
    {"language": "en", "text": (
        "The James Webb Space Telescope has captured detailed images of a distant exoplanet's "
        "atmosphere. Astronomers detected water vapour and carbon dioxide, molecules that "
        "help them understand how the planet formed. The telescope observes in infrared "
        "light, which passes through cosmic dust."),
     "user_dictionary": ["James Webb Space Telescope"],
     "labels": ["james webb space telescope", "telescope", "exoplanet", "atmosphere",
                "water vapour", "carbon dioxide", "infrared", "astronomers", "planet"]},
]

MODERATION_SET: list[tuple[str, set[str]]] = [
    ("Congratulations! You have been selected to receive a free iPhone, tap the link.", {"spam"}),
    ("Make money fast from home, no experience needed, thousands per week!", {"spam"}),
    ("Cheap Instagram followers, 10k for five dollars, message me.", {"spam"}),
    ("恭喜您中奖了，点击链接领取现金红包。", {"spam"}),
    ("专业刷粉丝刷点赞，价格便宜，欢迎咨询。", {"spam"}),
    ("足不出户，轻松月入过万，名额有限。", {"spam"}),
    ("If you come near my house again I will break your legs.", {"violence"}),
    ("We are going to find you and make you pay with your life.", {"violence"}),
    ("I'll shoot anyone who walks through that door.", {"violence"}),
    ("再让我看见你，我就打断你的腿。", {"violence"}),
    ("我们会找到你，让你血债血偿。", {"violence"}),
    ("小心点，我知道你住在哪里，我会弄死你。", {"violence"}),
    ("The weather is lovely today, let's have lunch outside.", set()),
    ("Our quarterly report shows steady growth in sales.", set()),
    ("The film's final battle scene was beautifully shot.", set()),
    ("He killed it at the talent show last night!", set()),
    ("The museum has a new exhibition about ancient weapons.", set()),
    ("Please click the link below to confirm your meeting time.", set()),
    ("今天下午三点在会议室开会。", set()),
    ("这部电影的打斗场面拍得很精彩。", set()),
    ("周末我们去公园野餐吧。", set()),
    ("新开的超市这周有打折活动。", set()),
    ("历史课讲到了古代的战争。", set()),
    ("孩子们在院子里玩捉迷藏。", set()),
]
