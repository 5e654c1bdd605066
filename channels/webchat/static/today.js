/* The neutral daily page: today's date and a small tip, chosen by the day of the year. */
(function () {
  "use strict";

  var PAGES = {
    en: {
      dir: "ltr", locale: "en-GB", title: "Today", tipHeading: "Tip of the day",
      tips: [
        "Mint tea tastes fresher when the leaves go in just after the water leaves the boil, and rest for three minutes.",
        "Water potted herbs in the morning rather than the evening: the roots drink before the heat of the day.",
        "A pinch of cumin toasted in a dry pan for thirty seconds gives lentils a much deeper taste.",
        "Keep fresh coriander in a glass of water in the fridge, like flowers: it stays green for a week.",
        "Lemons give more juice if you roll them firmly on the table before cutting them.",
        "Basil likes sun and warmth; pinch off the flowers so the leaves keep growing.",
        "Rinse the green tea once with a little hot water before brewing to soften its bitterness.",
        "Onions cooked slowly on low heat for twenty minutes turn sweet without any sugar.",
        "Coffee grounds, dried, make a gentle fertiliser for roses and geraniums.",
        "Soak chickpeas overnight with a pinch of bicarbonate: they cook faster and stay tender."
      ]
    },
    fr: {
      dir: "ltr", locale: "fr-FR", title: "Aujourd'hui", tipHeading: "Astuce du jour",
      tips: [
        "Le thé à la menthe est plus parfumé si l'on ajoute les feuilles juste après l'ébullition et qu'on laisse infuser trois minutes.",
        "Arrosez les herbes en pot le matin plutôt que le soir : les racines boivent avant la chaleur.",
        "Une pincée de cumin grillée trente secondes à sec donne beaucoup de goût aux lentilles.",
        "Gardez la coriandre fraîche dans un verre d'eau au réfrigérateur, comme un bouquet : elle reste verte une semaine.",
        "Un citron donne plus de jus si on le roule fermement sur la table avant de le couper.",
        "Le basilic aime le soleil ; pincez les fleurs pour que les feuilles continuent de pousser.",
        "Rincez le thé vert une fois avec un peu d'eau chaude avant l'infusion pour adoucir son amertume.",
        "Des oignons cuits vingt minutes à feu doux deviennent sucrés sans ajouter de sucre.",
        "Le marc de café séché est un engrais doux pour les rosiers et les géraniums.",
        "Faites tremper les pois chiches une nuit avec une pincée de bicarbonate : ils cuisent plus vite."
      ]
    },
    ar: {
      dir: "rtl", locale: "ar-MA", title: "اليوم", tipHeading: "نصيحة اليوم",
      tips: [
        "يصبح أتاي بالنعناع أطيب إذا وُضعت الأوراق بعد الغليان مباشرة وتُركت ثلاث دقائق.",
        "اسقي الأعشاب في الأصص صباحًا بدل المساء، فتشرب الجذور قبل حرارة النهار.",
        "رشة كمون محمصة ثلاثين ثانية في مقلاة جافة تمنح العدس مذاقًا أعمق.",
        "احفظي القزبر الطري في كوب ماء داخل الثلاجة مثل باقة ورد، فيبقى أخضر أسبوعًا.",
        "تعطي الليمونة عصيرًا أكثر إذا دحرجتها بقوة على الطاولة قبل تقطيعها.",
        "الحبق يحب الشمس؛ اقطفي أزهاره لتستمر الأوراق في النمو.",
        "اغسلي الشاي الأخضر مرة بقليل من الماء الساخن قبل التحضير ليخف طعمه المر.",
        "البصل المطهو على نار هادئة عشرين دقيقة يصبح حلوًا دون سكر.",
        "تفل القهوة المجفف سماد لطيف للورد والعطرشة.",
        "انقعي الحمص ليلة كاملة مع رشة بيكربونات، فيطهى أسرع ويبقى طريًا."
      ]
    }
  };

  var nav = String(navigator.language || "").toLowerCase();
  var key = nav.indexOf("ar") === 0 ? "ar" : (nav.indexOf("fr") === 0 ? "fr" : "en");
  var page = PAGES[key];
  var now = new Date();
  var start = new Date(now.getFullYear(), 0, 0);
  var dayOfYear = Math.floor((now - start) / 86400000);

  document.documentElement.setAttribute("lang", key);
  document.documentElement.setAttribute("dir", page.dir);
  document.title = page.title;
  document.getElementById("heading").textContent = page.title;
  document.getElementById("tip-heading").textContent = page.tipHeading;
  document.getElementById("tip").textContent = page.tips[dayOfYear % page.tips.length];

  var date;
  try {
    date = now.toLocaleDateString(page.locale, {
      weekday: "long", day: "numeric", month: "long", year: "numeric"
    });
  } catch (e) {
    date = now.toDateString();
  }
  document.getElementById("date").textContent = date;
})();
