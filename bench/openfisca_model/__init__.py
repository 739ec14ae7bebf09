"""20 rules of 威政办发〔2023〕5号 / 7号 encoded as an OpenFisca model (for bench/bench_bulk.py only).

Written the way an OpenFisca country package would be: one entity, input variables, one formula variable
per rule. OpenFisca has no unknown values and no set type, so titles are boolean inputs and missing values
are 0/False; money is float (OpenFisca's default) — exactly the weaknesses zhengce's bulk path avoids.
"""

import numpy as np
from openfisca_core.entities import build_entity
from openfisca_core.periods import DateUnit
from openfisca_core.taxbenefitsystems import TaxBenefitSystem
from openfisca_core.variables import Variable

Enterprise = build_entity(key="enterprise", plural="enterprises", label="企业", is_person=True)

YI = 1e8
WAN = 1e4

FLOAT_INPUTS = ["revenue", "revenue_base", "revenue_peak_before", "revenue_growth", "revenue_growth_prev_year",
                "smart_retrofit_service_fees"]
INT_INPUTS = ["years_since_stats_inclusion", "ic_layout_certs_new", "china_design_award_rank",
              "governor_cup_design_rank", "dcmm_level_new", "dcmm_level_before", "id_registrations",
              "id_resolutions"]
BOOL_INPUTS = ["is_industrial", "is_zjtx_accelerator_operator", "has_industrialized_key_tech",
               "is_smart_retrofit_provider", "smart_retrofit_provider_notable", "is_ic_enterprise",
               "registered_on_id_node_weihai", "id_thresholds_reached_before", "is_chain_leader",
               "chain_leader_notable"]
TITLES = {"title_smart_factory_national": "国家级智能制造示范工厂", "title_smart_scene_national": "国家级智能制造优秀场景",
          "title_ind_design_national": "国家级工业设计中心", "title_champion_national": "国家制造业单项冠军示范企业",
          "title_little_giant": "专精特新“小巨人”企业"}


def _input(name, vt):
    return type(name, (Variable,), {"value_type": vt, "entity": Enterprise, "definition_period": DateUnit.YEAR,
                                    "label": name})


def _rule(name, fn):
    def formula(enterprise, period, parameters):
        return fn(lambda v: enterprise(v, period))
    return type(name, (Variable,), {"value_type": float, "entity": Enterprise, "definition_period": DateUnit.YEAR,
                                    "label": name, "formula": formula})


def _steps(g):
    return np.floor(g("revenue") / (100 * YI)) - np.floor(g("revenue_base") / (100 * YI))


RULES = {
    "zbf_2023_5_01": lambda g: np.where((g("revenue_base") >= 100 * YI) & (_steps(g) > 0), 1000 * WAN * _steps(g), 0),
    "zbf_2023_5_02": lambda g: np.where(g("is_industrial") & (g("revenue") >= 100 * YI)
                                        & (g("revenue_peak_before") < 100 * YI), 1000 * WAN, 0),
    "zbf_2023_5_03": lambda g: np.where((g("revenue") >= 80 * YI) & (g("revenue_peak_before") < 80 * YI)
                                        & (g("revenue_growth") >= 0.05), 0.01 * 80 * YI, 0),
    "zbf_2023_5_04": lambda g: np.where((g("revenue") >= 50 * YI) & (g("revenue_peak_before") < 50 * YI)
                                        & (g("revenue_growth") >= 0.05), 0.01 * 50 * YI, 0),
    "zbf_2023_5_05": lambda g: np.where(g("is_zjtx_accelerator_operator"), 500 * WAN, 0),
    "zbf_2023_5_07": lambda g: np.where((g("years_since_stats_inclusion") == 1) & (g("revenue_growth") >= 0.10),
                                        5 * WAN, 0),
    "zbf_2023_5_08": lambda g: np.where((g("years_since_stats_inclusion") == 2) & (g("revenue_growth") >= 0.10)
                                        & (g("revenue_growth_prev_year") >= 0.10), 5 * WAN, 0),
    "zbf_2023_5_13": lambda g: np.where(g("has_industrialized_key_tech"), 100 * WAN, 0),
    "zbf_2023_7_02": lambda g: np.where(g("title_smart_factory_national"), 100 * WAN, 0),
    "zbf_2023_7_03": lambda g: np.where(g("title_smart_scene_national"), 50 * WAN, 0),
    "zbf_2023_7_08": lambda g: np.where(g("is_smart_retrofit_provider") & g("smart_retrofit_provider_notable"),
                                        np.minimum(0.05 * g("smart_retrofit_service_fees"), 20 * WAN), 0),
    "zbf_2023_7_11": lambda g: np.where(g("title_ind_design_national"), 100 * WAN, 0),
    "zbf_2023_7_19": lambda g: np.where(g("is_ic_enterprise") & (g("ic_layout_certs_new") >= 1),
                                        np.minimum(20 * WAN * g("ic_layout_certs_new"), 30 * WAN), 0),
    "zbf_2023_7_20": lambda g: np.select([g("china_design_award_rank") == 1, g("china_design_award_rank") == 2,
                                          g("china_design_award_rank") == 3], [30 * WAN, 20 * WAN, 10 * WAN], 0),
    "zbf_2023_7_21": lambda g: np.select([g("governor_cup_design_rank") == 1, g("governor_cup_design_rank") == 2,
                                          g("governor_cup_design_rank") == 3], [10 * WAN, 5 * WAN, 2 * WAN], 0),
    "zbf_2023_7_22": lambda g: np.where(g("title_champion_national"), 100 * WAN, 0),
    "zbf_2023_7_24": lambda g: np.where(g("title_little_giant"), 30 * WAN, 0),
    "zbf_2023_7_41": lambda g: np.where((g("dcmm_level_new") > g("dcmm_level_before")),
                                        np.select([g("dcmm_level_new") == 4, g("dcmm_level_new") == 3,
                                                   g("dcmm_level_new") == 2], [40 * WAN, 30 * WAN, 20 * WAN], 0), 0),
    "zbf_2023_7_43": lambda g: np.where(g("is_industrial") & g("registered_on_id_node_weihai")
                                        & (g("id_registrations") >= 100000) & (g("id_resolutions") >= 20000)
                                        & ~g("id_thresholds_reached_before"), 10 * WAN, 0),
    "zbf_2023_7_44": lambda g: np.where(g("is_chain_leader") & g("chain_leader_notable"), 100 * WAN, 0),
}


class WeihaiBench(TaxBenefitSystem):
    def __init__(self):
        super().__init__([Enterprise])
        for n in FLOAT_INPUTS:
            self.add_variable(_input(n, float))
        for n in INT_INPUTS:
            self.add_variable(_input(n, int))
        for n in [*BOOL_INPUTS, *TITLES]:
            self.add_variable(_input(n, bool))
        for n, fn in RULES.items():
            self.add_variable(_rule(n, fn))
